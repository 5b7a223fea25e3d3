// Hosted checkout: store billing details, save the card with a SetupIntent (Stripe.js),
// then let the server charge it; 3-D Secure runs here only when the server asks for it.
// Loaded as a file (no inline script) so the page CSP needs no 'unsafe-inline'.
(function () {
  "use strict";

  var section = document.getElementById("checkout");
  if (!section) { return; }
  var form = document.getElementById("checkout-form");
  var submit = document.getElementById("checkout-submit");
  var general = document.getElementById("checkout-errors");
  var token = section.dataset.csrfToken;
  var stripe = Stripe(section.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");

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
        if (!response.ok) {
          var error = new Error((data && (data.detail || data.message)) ||
            "Something went wrong (" + response.status + "). Reload the page and try again.");
          error.fields = (data && data.errors) || [];
          throw error;
        }
        return data;
      });
    });
  }

  function clearErrors() {
    general.textContent = "";
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (node) {
      if (node !== general) { node.textContent = ""; }
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  function showError(error) {
    var shown = false;
    (error.fields || []).forEach(function (item) {
      var name = String(item.field).replace(/^address\./, "");
      var slot = document.getElementById("error-" + name);
      var input = form.elements[name];
      if (slot && input) {
        slot.textContent = item.message;
        input.setAttribute("aria-invalid", "true");
        if (!shown) { input.focus(); }
        shown = true;
      }
    });
    general.textContent = error.message;
    submit.disabled = false;
  }

  function complete(setupIntent, afterAuthentication) {
    return post(section.dataset.completeUrl, { setup_intent: setupIntent }).then(function (outcome) {
      if (outcome.status === "succeeded") {
        window.location.assign(outcome.redirect);
        return null;
      }
      if (outcome.status === "requires_action" && !afterAuthentication) {
        general.textContent = outcome.message;
        return stripe.confirmCardPayment(outcome.client_secret).then(function (result) {
          if (result.error) { throw new Error(result.error.message); }
          // Whatever the page saw, the server asks Stripe how the payment ended.
          return complete(setupIntent, true);
        });
      }
      throw new Error(outcome.message);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submit.disabled = true;
    clearErrors();
    var fields = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") { fields[name] = value; }
    });
    post(section.dataset.customerUrl, fields).then(function (intent) {
      return stripe.confirmCardSetup(intent.client_secret, { payment_method: { card: card } });
    }).then(function (result) {
      if (result.error) { throw new Error(result.error.message); }
      return complete(result.setupIntent.id, false);
    }).catch(showError);
  });
})();
