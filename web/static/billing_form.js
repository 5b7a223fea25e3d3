// The billing form's field errors on a page that posts the form with a script (checkout).
// A 422 problem document names each wrong field ("email", "address.city"); its input's
// error slot (web/templates/web/billing_form.html) shows the words the page put in its
// data-message, in the page's language, and the input is marked invalid. No sentence is
// typed here. Loaded as a file (no inline script) so the page CSP needs no 'unsafe-inline'.
(function () {
  "use strict";

  // The input a field error names: the problem document uses the API's dotted names.
  function inputName(field) {
    return String(field).replace(/^address\./, "");
  }

  // Empty every error slot of `form` but those in `keep`, and unmark its inputs.
  function clearErrors(form, keep) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error"), function (node) {
      if ((keep || []).indexOf(node) < 0) { node.textContent = ""; }
    });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (node) {
      node.removeAttribute("aria-invalid");
    });
  }

  // Show each of `errors` ([{field: ...}]) in its slot and focus the first wrong input;
  // `controlFor(name)` finds an input outside the billing fields (a card element).
  // Answers whether an input took the focus.
  function showErrors(form, errors, controlFor) {
    var focused = false;
    (errors || []).forEach(function (item) {
      var name = inputName(item.field);
      var slot = document.getElementById("error-" + name);
      var control = (controlFor && controlFor(name)) || form.elements[name] || null;
      if (!slot) { return; }
      slot.textContent = slot.dataset.message;
      if (control && control.setAttribute) { control.setAttribute("aria-invalid", "true"); }
      if (!focused && control && control.focus) { control.focus(); focused = true; }
    });
    return focused;
  }

  window.billingForm = { clearErrors: clearErrors, showErrors: showErrors };
})();
