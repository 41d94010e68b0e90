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
