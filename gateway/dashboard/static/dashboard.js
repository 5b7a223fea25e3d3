// The settings page's behaviour: copy buttons, the live domain status, the brand preview.
// Loaded from this host only (CSP script-src 'self'); every page works without it too.
"use strict";

function copyText(button) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) return;
  const text = "value" in target && target.value !== undefined ? target.value : target.textContent;
  const done = () => {
    const label = button.textContent;
    button.textContent = button.dataset.copied;
    setTimeout(() => { button.textContent = label; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text.trim()).then(done, () => fallbackCopy(target, done));
  } else {
    fallbackCopy(target, done);
  }
}

function fallbackCopy(target, done) {
  const area = document.createElement("textarea");
  area.value = ("value" in target && target.value !== undefined ? target.value : target.textContent).trim();
  area.setAttribute("readonly", "");
  area.style.position = "absolute";
  area.style.left = "-10000px";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (button) copyText(button);
});

// Domain page: poll the status document and replace the live part of the page.
function followDomain(live) {
  const url = live.dataset.statusUrl;
  let settled = live.dataset.settled === "true";
  const poll = async () => {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401 || response.status === 404) { window.location.reload(); return; }
      if (response.ok) {
        const state = await response.json();
        if (live.dataset.status !== state.status || live.dataset.html !== state.html) {
          live.innerHTML = state.html;
          live.dataset.status = state.status;
          live.dataset.html = state.html;
        }
        settled = state.settled;
      }
    } catch (error) {
      // A network hiccup: try again at the next tick.
    }
    setTimeout(poll, settled ? 30000 : 3000);
  };
  setTimeout(poll, settled ? 30000 : 3000);
}

// WCAG 2.x relative luminance and contrast ratio, as gateway/tenants/brand.py computes them.
function luminance(hex) {
  const channel = (offset) => {
    const value = parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return value <= 0.04045 ? value / 12.92 : Math.pow((value + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function contrast(a, b) {
  const [first, second] = [luminance(a), luminance(b)];
  return (Math.max(first, second) + 0.05) / (Math.min(first, second) + 0.05);
}

function followBrand(form) {
  const hex = document.getElementById("field-brand_color");
  const picker = document.getElementById("field-brand_color_picker");
  const preview = document.getElementById("portal-preview");
  const report = document.getElementById("contrast-report");
  const text = document.getElementById("contrast-text");
  const warning = document.getElementById("contrast-warning");
  const icon = document.getElementById("field-icon");
  const previewIcon = document.getElementById("preview-icon");
  const valid = /^#[0-9a-fA-F]{6}$/;

  const show = (color) => {
    color = color.toLowerCase();
    const onWhite = contrast(color, "#ffffff");
    const onBlack = contrast(color, "#000000");
    const textColor = onWhite >= onBlack ? "#ffffff" : "#000000";
    preview.style.setProperty("--brand", color);
    preview.style.setProperty("--brand-contrast", textColor);
    preview.dataset.color = color;
    const ratio = Math.max(onWhite, onBlack).toFixed(1);
    const name = textColor === "#ffffff" ? report.dataset.white : report.dataset.black;
    text.textContent = report.dataset.text.replace("{text}", name).replace("{ratio}", ratio);
    warning.textContent = report.dataset.warning.replace("{ratio}", onWhite.toFixed(1));
    warning.hidden = onWhite >= 4.5;
  };

  hex.addEventListener("input", () => {
    const value = hex.value.trim();
    if (valid.test(value)) { picker.value = value.toLowerCase(); show(value); }
  });
  picker.addEventListener("input", () => { hex.value = picker.value; show(picker.value); });
  icon.addEventListener("change", () => {
    const file = icon.files && icon.files[0];
    if (!file) return;
    // A data: URL, not a blob: URL: the page's CSP allows images from 'self' and data: only.
    const reader = new FileReader();
    reader.addEventListener("load", () => { previewIcon.src = reader.result; previewIcon.hidden = false; });
    reader.readAsDataURL(file);
  });
  if (valid.test(hex.value.trim())) show(hex.value.trim());
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("domain-live");
  if (live) followDomain(live);
  const brand = document.getElementById("brand-form");
  if (brand) followBrand(brand);
});
