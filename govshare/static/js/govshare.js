// govshare: small progressive enhancements; no inline scripts (CSP script-src 'self').
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-copy]");
  if (target && navigator.clipboard) {
    navigator.clipboard.writeText(document.getElementById(target.dataset.copy).textContent.trim());
  }
});
