// The DAG's versions page: saves the retirement policy form through the JSON API
// (PUT /api/dags/{dag_id}/retirement-policy), with pinflow.js's authenticated call.
(() => {
  "use strict";

  function bodyOf(form) {
    const keep = form.elements.keepActive.value.trim();
    const after = form.elements.purgeDeprecatedAfter.value.trim();
    return {
      keepActive: keep === "" ? null : Number(keep),
      deprecatePreviousOnPublish: form.elements.deprecatePreviousOnPublish.checked,
      purgeDeprecatedAfter: after === "" ? null : after,
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("retirement-form");
    if (!form || !window.pinflow) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("save-policy");
      button.disabled = true;
      try {
        const path = "/api/dags/" + encodeURIComponent(form.dataset.dag) + "/retirement-policy";
        await window.pinflow.call("PUT", path, bodyOf(form));
        window.pinflow.reloadWith("Retirement policy saved: the preview shows what it will do next.");
      } catch (err) {
        window.pinflow.flash(err.message, true);
        button.disabled = false;
      }
    });
  });
})();
