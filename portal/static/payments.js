// Portal payments: save a card with a SetupIntent, finish 3-D Secure for a top-up,
// pay an open invoice with a saved or a new card.
// Loaded as a file (no inline script) so the page CSP needs no 'unsafe-inline'.
// Every text it shows comes from the page (data-message-* attributes), in the page's language.
(function () {
  "use strict";

  // Stripe.js writes its own card errors in the page's language.
  function stripeFor(section) {
    return Stripe(section.dataset.publishableKey,
      { locale: document.documentElement.lang || "auto" });
  }

  function post(section, url, fields) {
    var token = section.dataset.csrfToken;
    var body = new URLSearchParams(fields);
    body.set("csrf_token", token);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (ignored) { data = null; }
        if (!response.ok) {
          // A field error says what went wrong ("the card was not saved..."); the
          // problem's detail only says that something did.
          var fields = (data && data.errors) || [];
          var message = fields.map(function (item) { return item.message; }).join(" ") ||
            (data && (data.detail || data.message)) ||
            section.dataset.messageRequestFailed.replace("{status}", String(response.status));
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function addCard(section) {
    var stripe = stripeFor(section);
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    var form = document.getElementById("card-form");
    var errors = document.getElementById("card-errors");
    var submit = document.getElementById("card-submit");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      errors.textContent = "";
      post(section, section.dataset.setupUrl, {}).then(function (intent) {
        return stripe.confirmCardSetup(intent.client_secret, { payment_method: { card: card } });
      }).then(function (result) {
        if (result.error) { throw new Error(result.error.message); }
        return post(section, section.dataset.saveUrl, { setup_intent: result.setupIntent.id });
      }).then(function (saved) {
        window.location.assign(saved.redirect);
      }).catch(function (error) {
        errors.textContent = error.message;
        submit.disabled = false;
      });
    });
  }

  function finishTopup(section) {
    // The page already says the bank asks for confirmation: its outcome line shows what follows.
    var shown = document.getElementById("topup-message");
    var status = shown || document.getElementById("topup-status");
    var stripe = stripeFor(section);
    if (!shown) { status.textContent = section.dataset.messageConfirm; }
    stripe.confirmCardPayment(section.dataset.clientSecret).then(function () {
      // Whatever the page saw, the server asks Stripe how the payment ended.
      return post(section, section.dataset.completeUrl, { nonce: section.dataset.nonce });
    }).then(function (outcome) {
      status.textContent = outcome.message;
      var balance = document.getElementById("wallet-balance");
      if (outcome.status === "succeeded" && balance) { window.location.reload(); }
    }).catch(function (error) {
      status.textContent = error.message;
    });
  }

  // The attempt's outcome from the server; 3-D Secure in the page when the bank asks.
  function settleInvoice(section, stripe, outcome, status) {
    if (outcome.status !== "requires_action") { return Promise.resolve(outcome); }
    status.textContent = section.dataset.messageConfirm;
    return stripe.confirmCardPayment(outcome.client_secret).then(function () {
      // Whatever the page saw, the server asks Stripe how the payment ended.
      return post(section, section.dataset.completeUrl, { nonce: outcome.nonce });
    });
  }

  function showInvoiceOutcome(outcome, status, submit) {
    status.textContent = outcome.message;
    if (outcome.status === "succeeded") {
      window.location.assign(window.location.pathname + "?payment=" + outcome.nonce);
    } else if (submit) {
      if (outcome.retry_nonce) { submit.form.elements.nonce.value = outcome.retry_nonce; }
      submit.disabled = false;
    }
  }

  function payInvoice(section) {
    var stripe = stripeFor(section);
    var status = document.getElementById("pay-status");
    var form = document.getElementById("pay-form");
    var submit = document.getElementById("pay-submit");
    var holder = document.getElementById("pay-new-card");
    var card = stripe.elements().create("card");
    card.mount("#pay-card-element");
    function chosen() {
      var checked = form.querySelector("input[name=payment_method]:checked");
      return checked ? checked.value : "new";
    }
    form.addEventListener("change", function () { holder.hidden = chosen() !== "new"; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      status.textContent = "";
      var nonce = form.elements.nonce.value;
      var method = Promise.resolve(chosen());
      if (chosen() === "new") {
        // Saved as the default card first (the path localstripe and Stripe both take).
        method = post(section, section.dataset.setupUrl, {}).then(function (intent) {
          return stripe.confirmCardSetup(intent.client_secret, { payment_method: { card: card } });
        }).then(function (result) {
          if (result.error) { throw new Error(result.error.message); }
          return post(section, section.dataset.saveUrl, { setup_intent: result.setupIntent.id });
        }).then(function (saved) { return saved.payment_method.id; });
      }
      method.then(function (id) {
        return post(section, section.dataset.payUrl, { nonce: nonce, payment_method: id });
      }).then(function (outcome) {
        return settleInvoice(section, stripe, outcome, status);
      }).then(function (outcome) {
        showInvoiceOutcome(outcome, status, submit);
      }).catch(function (error) {
        status.textContent = error.message;
        submit.disabled = false;
      });
    });
    if (section.dataset.clientSecret) {
      var pending = { status: "requires_action", client_secret: section.dataset.clientSecret,
        nonce: section.dataset.nonce };
      settleInvoice(section, stripe, pending, status).then(function (outcome) {
        showInvoiceOutcome(outcome, status, submit);
      }).catch(function (error) { status.textContent = error.message; });
    }
  }

  var paySection = document.getElementById("pay");
  if (paySection) { payInvoice(paySection); }
  var addSection = document.getElementById("add-card");
  if (addSection) { addCard(addSection); }
  var topupSection = document.getElementById("topup");
  if (topupSection && topupSection.dataset.clientSecret) { finishTopup(topupSection); }
})();
