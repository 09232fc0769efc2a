// Time zone pickers (select[data-zone-picker]): the browser's own zone goes first, and a "Find a zone" box
// above the list hides the zones that do not match what is typed (by name, city or ID). A picker with
// [data-detect-timezone] and no choice yet also preselects the browser's zone.
document.addEventListener("DOMContentLoaded", () => setUpPickers(document));
document.addEventListener("htmx:load", (event) => setUpPickers(event.target));

function setUpPickers(root) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const select of root.querySelectorAll ? root.querySelectorAll("select[data-zone-picker]") : []) {
    if (select.dataset.ready) continue;
    select.dataset.ready = "1";
    const own = [...select.options].find((option) => option.value === zone);
    if (own) {
      const first = [...select.options].find((option) => option.value !== "");
      if (first && first !== own) select.insertBefore(own, first);
      if (select.hasAttribute("data-detect-timezone")) select.value = zone;
    }
    const filter = document.createElement("input");
    filter.type = "search";
    filter.id = `${select.id}-find`;
    filter.placeholder = "Type a city or zone";
    filter.autocomplete = "off";
    const label = document.createElement("label");
    label.htmlFor = filter.id;
    label.className = "hint";
    label.textContent = "Find a zone by city";
    select.before(label, filter);
    filter.addEventListener("input", () => {
      const words = filter.value.trim().toLowerCase().replaceAll("_", " ").split(/\s+/).filter(Boolean);
      const matches = [];
      for (const option of select.options) {
        const text = `${option.text} ${option.value.replaceAll("_", " ")}`.toLowerCase();
        const match = option.value !== "" && words.every((word) => text.includes(word));
        if (match) matches.push(option);
        option.hidden = !(match || option.value === "" || option.selected);
      }
      // One match left: choose it, so typing a city is enough.
      if (matches.length === 1) select.value = matches[0].value;
    });
  }
}
