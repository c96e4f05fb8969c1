"""The width rule (ADR 0029): a page is never wider than its viewport. What overflows is named
by the element that sticks out furthest, so a failure says what to fix."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1360, "height": 900}

# Elements that stick out past the right edge, skipping those inside something that scrolls or
# clips them (a table scrolling inside its card is fine): the one furthest out, and the deepest
# of equals (the table rather than the main element around it).
_OVERFLOW = """() => {
  const limit = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  let worst = null;
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= limit + 0.5 || clipped(el)) continue;
    if (!worst || r.right >= worst.right) worst = { right: r.right, el };
  }
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    widest: worst ? name(worst.el) + " (right edge at " + Math.round(worst.right) + " px)" : null,
  };
}"""


def overflow(page: Page) -> str | None:
    """Why the page is wider than its viewport, or ``None`` when it fits."""
    found: dict[str, Any] = page.evaluate(_OVERFLOW)
    if found["scrollWidth"] <= found["innerWidth"]:
        return None
    return (
        f"{found['scrollWidth']} px wide in a {found['innerWidth']} px viewport; "
        f"widest element: {found['widest'] or 'unknown'}"
    )
