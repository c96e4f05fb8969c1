// The colour theme (ADR 0029): light, dark, or the system's. The choice is a cookie that the
// server reads to render the next page in it (no flash of the other theme); here it is only
// stored and applied at once. Plain JavaScript, no build step (ADR 0005).
(() => {
  "use strict";

  const THEME_COOKIE = "pinflow_theme";

  function chooseTheme(theme) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = THEME_COOKIE + "=" + theme + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
    document.documentElement.dataset.theme = theme;
    const meta = document.querySelector("meta[name=color-scheme]");
    if (meta) meta.content = theme === "system" ? "light dark" : theme;
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-theme-choice]")) chooseTheme(event.target.value);
  });
})();
