// Preselect the browser's time zone in a time zone picker that has no choice yet.
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const select of document.querySelectorAll("select[data-detect-timezone]")) {
    if (zone && [...select.options].some((option) => option.value === zone)) {
      select.value = zone;
    }
  }
});
