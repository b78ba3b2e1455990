// Copy buttons: <button data-copy="ID"> copies the text of element ID.
// Everything works without this script; it only saves a selection.
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  e.preventDefault();
  var el = document.getElementById(b.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.value || el.textContent).then(function () {
    var was = b.textContent;
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = was; }, 1500);
  });
});
// Forms marked data-confirm ask before they post (deleting, removing).
document.addEventListener("submit", function (e) {
  var f = e.target;
  if (f.hasAttribute("data-confirm") && !window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
});
// The SSO form shows only the fields of the chosen identity provider.
function showPreset() {
  var sel = document.getElementById("conn-type");
  if (!sel) return;
  document.querySelectorAll("[data-preset]").forEach(function (el) {
    el.hidden = el.getAttribute("data-preset") !== sel.value;
  });
}
document.addEventListener("change", function (e) { if (e.target.id === "conn-type") showPreset(); });
document.addEventListener("DOMContentLoaded", showPreset);
