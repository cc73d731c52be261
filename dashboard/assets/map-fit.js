/* stat311: fit a map to its area at the size the browser gives it.
 *
 * The server picks a map's centre and zoom before it knows the browser's width (and the staff
 * pages' figures are cached for every screen), for a desktop-wide map: on a 390 px phone the
 * hot-spot and department maps cut off the city's west and east. A figure whose layout.meta
 * holds fit: [west, south, east, north] (degrees) is zoomed here, after plotly has drawn it, so
 * that the whole box shows in the map's own width and height, with the same margin as the
 * server's (0.1 of a zoom level). Once per figure and size: a later zoom or pan by the user is
 * left alone until a new figure comes or the map changes size.
 * A file of the app's own (CSP script-src 'self'): no inline script, no eval.
 */
(function () {
  'use strict';

  const WORLD = 512; // MapLibre's world is 512 px wide at zoom 0

  function mercator(lat) {
    return Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
  }

  function fit(gd) {
    const meta = (gd.layout && gd.layout.meta) || {};
    const box = meta.fit;
    const full = gd._fullLayout;
    if (!Array.isArray(box) || box.length !== 4 || !full || !full.map || !window.Plotly) {
      return;
    }
    const subplot = full.map._subplot;
    const map = subplot && subplot.map;
    if (!map) {
      return; // not drawn yet: plotly_afterplot comes again
    }
    if (!map.loaded()) {
      // MapLibre still loading (plotly creates it asynchronously): a relayout now fails
      // inside plotly ("reading 'layers'"); try again when the map is idle (one wait a map).
      if (map.__stat311FitWaits !== true) {
        map.__stat311FitWaits = true;
        map.once('idle', function () {
          map.__stat311FitWaits = false;
          schedule(gd);
        });
      }
      return;
    }
    const size = full._size;
    const domain = full.map.domain;
    const width = size.w * (domain.x[1] - domain.x[0]);
    const height = size.h * (domain.y[1] - domain.y[0]);
    const key = JSON.stringify(box) + '@' + Math.round(width) + 'x' + Math.round(height);
    const layout = gd.layout;
    const done = gd.__stat311MapFit;
    if (done && done.layout === layout && done.key === key) {
      return; // fitted already (a new figure is a new layout object)
    }
    gd.__stat311MapFit = { layout: layout, key: key };
    const west = box[0], south = box[1], east = box[2], north = box[3];
    const zoomX = Math.log2((width * 360) / (WORLD * Math.max(east - west, 1e-6)));
    const spanY = Math.max(mercator(north) - mercator(south), 1e-9);
    const zoomY = Math.log2((height * 2 * Math.PI) / (WORLD * spanY));
    const zoom = Math.round(Math.max(0, Math.min(zoomX, zoomY, 16) - 0.1) * 100) / 100;
    const centre = { lon: (west + east) / 2, lat: (south + north) / 2 };
    const at = full.map.center || {};
    if (Math.abs(full.map.zoom - zoom) < 0.02 && at.lon === centre.lon && at.lat === centre.lat) {
      gd.dataset.mapFit = key; // for tests: the map shows the box
      return;
    }
    Promise.resolve(window.Plotly.relayout(gd, { 'map.zoom': zoom, 'map.center': centre }))
      .then(function () {
        if (gd.layout === layout) {
          gd.dataset.mapFit = key;
        }
      })
      .catch(function () {
        gd.__stat311MapFit = null; // a new figure came meanwhile: its own afterplot refits
      });
  }

  // Outside plotly's drawing: plotly_afterplot is emitted from inside it, and Dash may be
  // giving the graph a new figure at the same moment.
  function schedule(gd) {
    window.setTimeout(function () {
      fit(gd);
    }, 0);
  }

  function watch(gd) {
    if (gd.dataset.mapFitWatched === 'true' || typeof gd.on !== 'function') {
      return;
    }
    gd.dataset.mapFitWatched = 'true';
    gd.on('plotly_afterplot', function () {
      schedule(gd);
    });
    schedule(gd);
  }

  let queued = false;

  function scan() {
    queued = false;
    document.querySelectorAll('.js-plotly-plot').forEach(watch);
  }

  function queue() {
    if (!queued) {
      queued = true;
      window.requestAnimationFrame(scan);
    }
  }

  new MutationObserver(queue).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
  document.addEventListener('DOMContentLoaded', queue);
})();
