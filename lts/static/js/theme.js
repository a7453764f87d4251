/*
 * LTS theme, applied before first paint.
 *
 * Loaded synchronously in <head> (never inline: the CSP allows script-src 'self'
 * only) so a dark page never flashes light. The visitor's choice is kept in
 * localStorage by app.js; without one the OS preference decides.
 */
(function () {
  'use strict';

  var STORAGE_KEY = 'lts-theme';
  var theme = null;

  try {
    theme = window.localStorage.getItem(STORAGE_KEY);
  } catch (err) {
    // Storage may be blocked (private mode); fall back to the OS preference.
  }
  if (theme !== 'light' && theme !== 'dark') {
    var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
    theme = dark ? 'dark' : 'light';
  }
  document.documentElement.setAttribute('data-bs-theme', theme);
})();
