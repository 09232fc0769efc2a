// Drop-down menus: a button with aria-controls opens its [data-menu] list.
// Without JavaScript the lists simply stay open in the page, so every link is reachable.
document.documentElement.classList.add("js");

function closeMenus(except) {
  for (const button of document.querySelectorAll("[data-menu-button][aria-expanded='true']")) {
    if (button !== except) button.setAttribute("aria-expanded", "false");
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-menu-button]");
  if (button) {
    const open = button.getAttribute("aria-expanded") !== "true";
    closeMenus(button);
    button.setAttribute("aria-expanded", String(open));
    if (open) document.getElementById(button.getAttribute("aria-controls"))?.querySelector("a, button")?.focus();
    return;
  }
  if (!event.target.closest("[data-menu]")) closeMenus(null);
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const open = document.querySelector("[data-menu-button][aria-expanded='true']");
  if (open) {
    closeMenus(null);
    open.focus();
  }
});
