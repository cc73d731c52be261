/* stat311: say so when a table is wider than its box and scrolls sideways (phones).
 *
 * Plain tables and AG Grid grids (checkGrids, below) alike.
 *
 * Every .table-responsive box whose content is wider than the box gets data-scrolls="true",
 * which stat311.css turns into a line above the table: "Scroll sideways for more columns"
 * (kept in view while the table scrolls), and the box becomes keyboard-scrollable
 * (tabindex="0", with a label). Rechecked when the page's content changes (Dash re-renders
 * tables in callbacks), when a <details> opens or closes, and when the window is resized.
 * A file of the app's own (CSP script-src 'self'): no inline script, no eval.
 */
(function () {
  'use strict';

  const SELECTOR = '.table-responsive';
  let queued = false;

  function check() {
    queued = false;
    checkGrids();
    document.querySelectorAll(SELECTOR).forEach(function (box) {
      const scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls) {
        if (box.dataset.scrolls !== 'true') {
          box.dataset.scrolls = 'true';
        }
        if (!box.hasAttribute('tabindex')) {
          box.setAttribute('tabindex', '0');
          box.setAttribute('role', 'region');
          box.setAttribute('aria-label', 'Table (scrolls sideways)');
          box.dataset.scrollFocus = 'true';
        }
      } else {
        if (box.dataset.scrolls === 'true') {
          delete box.dataset.scrolls;
        }
        if (box.dataset.scrollFocus === 'true') {
          box.removeAttribute('tabindex');
          box.removeAttribute('role');
          box.removeAttribute('aria-label');
          delete box.dataset.scrollFocus;
        }
      }
    });
  }

  // AG Grid (the department page's grids) scrolls its columns inside the grid; its scroll bar is
  // an invisible overlay on a touch screen. While columns are hidden to the right, the grid's
  // root gets data-scrolls="true" (stat311.css: "More columns" at its top right edge).
  function checkGrids() {
    document.querySelectorAll('.ag-root-wrapper').forEach(function (grid) {
      const view = grid.querySelector('.ag-center-cols-viewport');
      const more = !!view && view.scrollWidth > view.clientWidth + 1 &&
        view.scrollLeft + view.clientWidth < view.scrollWidth - 1;
      if (more && grid.dataset.scrolls !== 'true') {
        grid.dataset.scrolls = 'true';
      } else if (!more && grid.dataset.scrolls === 'true') {
        delete grid.dataset.scrolls;
      }
    });
  }

  function queue() {
    if (!queued) {
      queued = true;
      window.requestAnimationFrame(check);
    }
  }

  function start() {
    queue();
    new MutationObserver(function (records) {
      // Only changes of content (not the attributes set here) need a new look.
      if (records.some(function (r) { return r.type === 'childList'; })) {
        queue();
      }
    }).observe(document.body, { childList: true, subtree: true });
    window.addEventListener('resize', queue);
    // A table in a closed <details> has no width until it is opened ('toggle' does not bubble).
    document.addEventListener('toggle', queue, true);
    // A grid scrolled to its last column drops its "More columns" ('scroll' does not bubble).
    document.addEventListener('scroll', queue, true);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
