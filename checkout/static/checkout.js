// Hosted checkout: store billing details, save the card with a SetupIntent (Stripe.js),
// then let the server charge it; 3-D Secure runs here only when the server asks for it.
// Loaded as a file (no inline script) so the page CSP needs no 'unsafe-inline'.
// Every word shown comes from the page (data-message-* attributes, translated there);
// the billing fields' errors are shown by the shared web/static/billing_form.js.
(function () {
  "use strict";

  var section = document.getElementById("checkout");
  if (!section) { return; }
  var form = document.getElementById("checkout-form");
  var submit = document.getElementById("checkout-submit");
  var general = document.getElementById("checkout-errors");
  var status = document.getElementById("checkout-status");
  var cardElement = document.getElementById("card-element");
  var messages = section.dataset;
  var token = section.dataset.csrfToken;
  var stripe = Stripe(section.dataset.publishableKey, { locale: section.dataset.locale });
  var card = stripe.elements().create("card");
  card.mount("#card-element");

  function failure(message, fields) {
    var error = new Error(message);
    error.fields = fields || [];
    return error;
  }

  function post(url, fields) {
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
        if (response.ok && data) { return data; }
        if (response.status === 422 && data && data.errors) {
          throw failure(messages.messageFields, data.errors);
        }
        // 409 and 410: paid or expired meanwhile (another tab, the merchant).
        if (response.status === 409 || response.status === 410) {
          throw failure(messages.messageClosed);
        }
        throw failure(messages.messageFailed);
      });
    });
  }

  function clearErrors() {
    general.textContent = "";
    status.textContent = "";
    billingForm.clearErrors(form, [general]);
  }

  function cardControl(name) {
    if (name !== "card") { return null; }
    return cardElement.querySelector("input, iframe") || cardElement;
  }

  function showError(error) {
    status.textContent = "";
    var focused = billingForm.showErrors(form, error.fields, cardControl);
    general.textContent = error.message || messages.messageFailed;
    if (!focused) { general.focus(); }
    submit.disabled = false;
  }

  function complete(setupIntent, paymentIntent) {
    var fields = { setup_intent: setupIntent };
    if (paymentIntent) { fields.payment_intent = paymentIntent; }
    return post(section.dataset.completeUrl, fields).then(function (outcome) {
      if (outcome.status === "succeeded") {
        window.location.assign(outcome.redirect);
        return null;
      }
      if (outcome.status === "requires_action" && !paymentIntent) {
        status.textContent = outcome.message;
        return stripe.confirmCardPayment(outcome.client_secret).then(function (result) {
          if (result.error) { throw failure(result.error.message); }
          // Whatever the page saw, the server asks Stripe how this payment ended.
          return complete(setupIntent, outcome.payment_intent);
        });
      }
      throw failure(outcome.message);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit.disabled = true;
    clearErrors();
    status.textContent = messages.messageWorking;
    var fields = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") { fields[name] = value; }
    });
    post(section.dataset.customerUrl, fields).then(function (intent) {
      return stripe.confirmCardSetup(intent.client_secret, { payment_method: { card: card } });
    }).then(function (result) {
      if (result.error) {
        throw failure(result.error.message, [{ field: "card" }]);
      }
      return complete(result.setupIntent.id, null);
    }).catch(showError);
  });
})();
