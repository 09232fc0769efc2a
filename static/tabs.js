// Tabs in a [data-tabs] nav (and the client list) swap their pane with htmx and push the URL; keep aria-current
// on the link to the page shown.
document.addEventListener("htmx:pushedIntoHistory", () => {
  for (const link of document.querySelectorAll("[data-tabs] a")) {
    if (new URL(link.href).pathname === window.location.pathname) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
});
