// Small shared behaviour. Feature scripts live next to this file.
document.addEventListener("htmx:responseError", (event) => {
  // Show the API's error message instead of failing silently.
  const xhr = event.detail.xhr;
  let message = `Request failed (${xhr.status}).`;
  try { message = JSON.parse(xhr.responseText).error.message || message; } catch (_) { /* HTML answer */ }
  const box = document.getElementById("flash") || document.body.appendChild(Object.assign(document.createElement("div"), { id: "flash" }));
  box.className = "alert error flash";
  box.setAttribute("role", "alert");
  box.textContent = message;
});

// No inline handlers (onsubmit, onchange) in the templates: the browser decodes an attribute before running it as
// JavaScript, so an escaped quote in a name shown inside one would still end its string. Data attributes instead.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.submit();
});
