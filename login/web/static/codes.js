// Backup codes: Copy and Print buttons (shown only when this script runs;
// the download link needs no script).
document.querySelectorAll("[data-copy-text]").forEach(function (b) {
  if (!navigator.clipboard) return;
  b.hidden = false;
  b.addEventListener("click", function () {
    navigator.clipboard.writeText(b.getAttribute("data-copy-text")).then(function () { b.textContent = "Copied"; });
  });
});
document.querySelectorAll("[data-print]").forEach(function (b) {
  b.hidden = false;
  b.addEventListener("click", function () { window.print(); });
});
