/* stat311: say so when the server refuses a Dash callback.
 *
 * The Dash renderer drops a callback answered 429 (over the public rate limit) or 503 (a busy
 * server or proxy) without a word in production: the page just does not change. This wraps
 * window.fetch, looks only at the status and the Retry-After header of answers to
 * .../_dash-update-component (the body is left alone for the renderer), and writes a plain
 * message into the page's role="alert" region (#public-callback-alert, in layouts/public.py;
 * made here on pages without one). The next callback sent after a refusal that succeeds
 * empties it. A file of the app's own (CSP script-src 'self'): no inline script, no eval.
 */
(function () {
  'use strict';

  const ALERT_ID = 'public-callback-alert';
  const CALLBACK_PATH = /\/_dash-update-component$/;
  const original = window.fetch;
  if (typeof original !== 'function' || original.stat311Wrapped) {
    return;
  }

  let sent = 0; // callbacks sent so far (numbers them)
  let lastRefused = 0; // the number of the latest callback refused
  let timer = null; // turns "wait N seconds" into "try again now"

  function isCallback(input) {
    try {
      const url = typeof input === 'string' ? input : (input && input.url) || String(input);
      return CALLBACK_PATH.test(new URL(url, document.baseURI).pathname);
    } catch (err) {
      return false;
    }
  }

  // Retry-After in seconds (a number of seconds or an HTTP date), or null without one.
  function retryAfter(response) {
    const value = (response.headers.get('Retry-After') || '').trim();
    if (/^\d+$/.test(value)) {
      return Number(value);
    }
    const at = Date.parse(value);
    return Number.isNaN(at) ? null : (at - Date.now()) / 1000;
  }

  // "1 second", "45 seconds", "3 minutes"; null for no time given.
  function span(seconds) {
    if (seconds === null) {
      return null;
    }
    if (seconds < 120) {
      const n = Math.max(1, Math.ceil(seconds));
      return n + (n === 1 ? ' second' : ' seconds');
    }
    return Math.ceil(seconds / 60) + ' minutes';
  }

  function message(status, wait) {
    if (status === 429) {
      return 'Too many requests from your connection. Please wait ' +
        (wait || 'a moment') + ' and try again.';
    }
    return 'The service is busy. Please try again in ' + (wait || 'a moment') + '.';
  }

  function write(text) {
    let region = document.getElementById(ALERT_ID);
    if (region) {
      region.textContent = text;
    } else if (text) {
      // A page without the region (the staff pages): add it empty, then fill it, so that
      // screen readers see a change to announce.
      region = document.createElement('div');
      region.id = ALERT_ID;
      region.setAttribute('role', 'alert');
      region.className = 'stat311-callback-alert';
      document.body.appendChild(region);
      setTimeout(function () { region.textContent = text; }, 100);
    }
  }

  function refused(status, seconds) {
    clearTimeout(timer);
    write(message(status, span(seconds)));
    if (seconds !== null) {
      // One second more than asked: flask-limiter rounds Retry-After down.
      timer = setTimeout(function () {
        write('You can try again now.');
      }, (Math.max(1, Math.ceil(seconds)) + 1) * 1000);
    }
  }

  function answered(number, response) {
    if (response.status === 429 || response.status === 503) {
      lastRefused = Math.max(lastRefused, number);
      refused(response.status, retryAfter(response));
    } else if (response.ok && number > lastRefused) {
      clearTimeout(timer);
      write('');
    }
  }

  function fetchAndWatch(input, init) {
    const answer = original.apply(window, arguments);
    if (!isCallback(input)) {
      return answer;
    }
    const number = ++sent;
    return answer.then(function (response) {
      try {
        answered(number, response);
      } catch (err) {
        // Never let the message get in the way of the callback itself.
      }
      return response;
    });
  }
  fetchAndWatch.stat311Wrapped = true;
  window.fetch = fetchAndWatch;
})();
