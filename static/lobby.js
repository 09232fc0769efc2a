// The therapist's "who is waiting" notice (#lobby-notices), polled by htmx on every page.
// - Focus-safe: an unchanged answer is not swapped in, and a button that is still there keeps the focus.
// - The page title counts who waits ("(1) Hearth"); a newcomer brings a notification (with permission)
//   and a soft sound.
(() => {
  const box = document.getElementById("lobby-notices");
  if (!box) return;
  const baseTitle = document.title;
  let shown = null;
  let known = new Set();
  let focusedId = null;
  let audio = null;

  document.addEventListener("pointerdown", () => {
    if (!audio && window.AudioContext) audio = new AudioContext(); // sound needs a gesture first
  }, { once: true });

  function chime() {
    if (!audio) return;
    const now = audio.currentTime;
    for (const [i, frequency] of [660, 880].entries()) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.08, now + i * 0.18 + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.5);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + i * 0.18);
      tone.stop(now + i * 0.18 + 0.55);
    }
  }

  const alertsButton = document.createElement("button");
  alertsButton.type = "button";
  alertsButton.className = "button";
  alertsButton.textContent = "Turn on alerts";
  alertsButton.hidden = true;
  alertsButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    alertsButton.hidden = true;
  });
  box.after(alertsButton);

  function update() {
    const inner = box.querySelector("[data-waiting-count]");
    const count = inner ? Number(inner.dataset.waitingCount) : 0;
    document.title = count ? `(${count}) ${baseTitle}` : baseTitle;
    const names = inner && inner.dataset.waitingNames ? inner.dataset.waitingNames.split(", ") : [];
    const arrived = names.filter((name) => !known.has(name));
    if (shown !== null && arrived.length) {
      chime();
      if (window.Notification && Notification.permission === "granted" && document.hidden) {
        new Notification("Hearth", { body: `${arrived.join(", ")} ${arrived.length > 1 ? "are" : "is"} waiting` });
      }
    }
    known = new Set(names);
    alertsButton.hidden = !(count && window.Notification && Notification.permission === "default");
  }

  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target !== box) return;
    const html = event.detail.serverResponse.trim();
    if (html === shown) { event.detail.shouldSwap = false; return; }
    shown = html;
    focusedId = box.contains(document.activeElement) ? document.activeElement.id : null;
  });

  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target !== box) return;
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
      focusedId = null;
    }
    update();
  });
})();
