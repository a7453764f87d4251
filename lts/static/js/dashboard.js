/*
 * Dashboard page behaviour wired by data- attributes (no inline script: CSP).
 *
 *   data-lts-autoclick   clicked once when the page loads (e.g. "New portfolio" when
 *                        the page is opened as /portfolios?new=1 from an empty state)
 *
 * The portfolio modal loads its form with htmx; a saved form answers with
 * HX-Redirect, so the modal needs no closing code.
 */
(function () {
  'use strict';

  document.addEventListener('DOMContentLoaded', () => {
    document.querySelectorAll('[data-lts-autoclick]').forEach((el) => {
      el.removeAttribute('data-lts-autoclick');
      el.click();
    });
  });
})();
