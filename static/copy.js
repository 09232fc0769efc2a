// Every "Copy link" button: <button data-copy="input-id">, with a [data-copy-status="input-id"] live region
// that hearth.css shows as a toast while it has text (3 s: long enough to read, short enough not to linger).
function announce(id, text) {
  const status = document.querySelector(`[data-copy-status="${id}"]`);
  if (!status) return;
  status.textContent = text;
  clearTimeout(status.hearthTimer);
  status.hearthTimer = setTimeout(() => { status.textContent = ""; }, 3000);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const id = button.dataset.copy;
  const input = document.getElementById(id);
  if (!input) return;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(input.value);
      announce(id, "Copied");
      return;
    } catch (error) {
      // Permission refused: fall through to selecting the text.
    }
  }
  // No Clipboard API (plain http on a LAN address): select the text so Ctrl+C / long-press copies it.
  input.focus();
  input.select();
  announce(id, "Press Ctrl+C (or ⌘C) to copy the selected link");
});
