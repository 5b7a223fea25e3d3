// Portal payments: save a card with a SetupIntent, finish 3-D Secure for a top-up.
// Loaded as a file (no inline script) so the page CSP needs no 'unsafe-inline'.
(function () {
  "use strict";

  function post(url, token, fields) {
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
          var message = (data && (data.detail || data.message)) ||
            "Something went wrong (" + response.status + "). Reload the page and try again.";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function addCard(section) {
    var stripe = Stripe(section.dataset.publishableKey);
    var card = stripe.elements().create("card");
    card.mount("#card-element");
    var form = document.getElementById("card-form");
    var errors = document.getElementById("card-errors");
    var submit = document.getElementById("card-submit");
    var token = section.dataset.csrfToken;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      errors.textContent = "";
      post(section.dataset.setupUrl, token, {}).then(function (intent) {
        return stripe.confirmCardSetup(intent.client_secret, { payment_method: { card: card } });
      }).then(function (result) {
        if (result.error) { throw new Error(result.error.message); }
        return post(section.dataset.saveUrl, token, { setup_intent: result.setupIntent.id });
      }).then(function (saved) {
        window.location.assign(saved.redirect);
      }).catch(function (error) {
        errors.textContent = error.message;
        submit.disabled = false;
      });
    });
  }

  function finishTopup(section) {
    var status = document.getElementById("topup-status");
    var stripe = Stripe(section.dataset.publishableKey);
    status.textContent = "Your bank asks you to confirm this payment.";
    stripe.confirmCardPayment(section.dataset.clientSecret).then(function () {
      // Whatever the page saw, the server asks Stripe how the payment ended.
      return post(section.dataset.completeUrl, section.dataset.csrfToken,
        { nonce: section.dataset.nonce });
    }).then(function (outcome) {
      status.textContent = outcome.message;
      var balance = document.getElementById("wallet-balance");
      if (outcome.status === "succeeded" && balance) { window.location.reload(); }
    }).catch(function (error) {
      status.textContent = error.message;
    });
  }

  var addSection = document.getElementById("add-card");
  if (addSection) { addCard(addSection); }
  var topupSection = document.getElementById("topup");
  if (topupSection && topupSection.dataset.clientSecret) { finishTopup(topupSection); }
})();
