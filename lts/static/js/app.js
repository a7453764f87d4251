/*
 * LTS page behaviour, loaded on every page after bootstrap, AdminLTE and htmx.
 *
 * The CSP allows no inline script, no inline style and no on* attributes, so
 * templates declare behaviour with data- attributes and this file wires it:
 *
 *   data-lts-theme-toggle     button flipping the light/dark theme (see theme.js)
 *   data-lts-toast            a Bootstrap toast to show (flash messages)
 *   data-confirm="Question?"  on a form, button or link: ask before going on
 *   data-poll                 on an element polling with hx-trigger="every Ns":
 *                             no request while the tab is hidden; when the tab
 *                             comes back the element receives a "visible" event,
 *                             so hx-trigger="every 10s, visible" refreshes at once
 *
 * Plain ES2017, no build step. window.LTS.toast(message, category) is public.
 */
(function () {
  'use strict';

  const THEME_KEY = 'lts-theme';

  // ---------------------------------------------------------------- CSRF ---

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  // Flask-WTF accepts the token from this header, so hx-post/put/delete need
  // no hidden field.
  document.addEventListener('htmx:configRequest', (evt) => {
    const token = csrfToken();
    if (token) {
      evt.detail.headers['X-CSRFToken'] = token;
    }
  });

  // --------------------------------------------------------------- theme ---

  function storedTheme() {
    try {
      const theme = window.localStorage.getItem(THEME_KEY);
      return theme === 'light' || theme === 'dark' ? theme : null;
    } catch (err) {
      return null;
    }
  }

  function applyTheme(theme) {
    document.documentElement.setAttribute('data-bs-theme', theme);
  }

  function toggleTheme() {
    const current = document.documentElement.getAttribute('data-bs-theme');
    const next = current === 'dark' ? 'light' : 'dark';
    applyTheme(next);
    try {
      window.localStorage.setItem(THEME_KEY, next);
    } catch (err) {
      // Not stored: the theme still applies to this page.
    }
  }

  document.addEventListener('click', (evt) => {
    if (evt.target instanceof Element && evt.target.closest('[data-lts-theme-toggle]')) {
      evt.preventDefault();
      toggleTheme();
    }
  });

  // Follow the OS while the visitor has not chosen.
  if (window.matchMedia) {
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (evt) => {
      if (!storedTheme()) {
        applyTheme(evt.matches ? 'dark' : 'light');
      }
    });
  }

  // -------------------------------------------------------------- toasts ---

  const TOAST_COLORS = {
    error: 'danger', danger: 'danger', warning: 'warning',
    success: 'success', info: 'info', message: 'secondary',
  };

  function showToasts(root) {
    if (!window.bootstrap || !root || !root.querySelectorAll) {
      return;
    }
    const toasts = Array.from(root.querySelectorAll('[data-lts-toast]'));
    if (root.matches && root.matches('[data-lts-toast]')) {
      toasts.push(root);
    }
    toasts.forEach((el) => {
      if (el.hasAttribute('data-lts-shown')) {
        return;
      }
      el.setAttribute('data-lts-shown', '');
      // Hidden toasts are removed so the container does not grow forever.
      el.addEventListener('hidden.bs.toast', () => el.remove());
      window.bootstrap.Toast.getOrCreateInstance(el).show();
    });
  }

  // Builds the same markup as the toast macro of templates/macros/ui.html.
  function toast(message, category) {
    const color = TOAST_COLORS[category] || 'secondary';
    const urgent = color === 'danger';
    let container = document.getElementById('lts-toasts');
    if (!container) {
      container = document.createElement('div');
      container.id = 'lts-toasts';
      container.className = 'toast-container position-fixed end-0 p-3';
      document.body.appendChild(container);
    }
    const el = document.createElement('div');
    el.className = `toast align-items-center text-bg-${color} border-0`;
    el.setAttribute('data-lts-toast', '');
    el.setAttribute('role', urgent ? 'alert' : 'status');
    el.setAttribute('aria-live', urgent ? 'assertive' : 'polite');
    el.setAttribute('aria-atomic', 'true');
    el.setAttribute('data-bs-autohide', urgent ? 'false' : 'true');
    el.setAttribute('data-bs-delay', '6000');
    const row = document.createElement('div');
    row.className = 'd-flex';
    const body = document.createElement('div');
    body.className = 'toast-body';
    body.textContent = message;
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'btn-close me-2 m-auto';
    if (color !== 'warning' && color !== 'info') {
      close.classList.add('btn-close-white');
    }
    close.setAttribute('data-bs-dismiss', 'toast');
    close.setAttribute('aria-label', 'Close');
    row.append(body, close);
    el.appendChild(row);
    container.appendChild(el);
    showToasts(el);
  }

  document.addEventListener('DOMContentLoaded', () => showToasts(document));
  // Toasts swapped in by htmx (e.g. hx-swap-oob="beforeend:#lts-toasts").
  document.addEventListener('htmx:load', (evt) => showToasts(evt.detail.elt));

  // ------------------------------------------------------ htmx behaviour ---

  // 422 carries a re-rendered form with its errors: swap it like a success.
  // Other 4xx/5xx are not swapped (htmx default) but reported in a toast.
  if (window.htmx) {
    window.htmx.config.responseHandling.unshift({ code: '422', swap: true, error: false });
  }

  document.addEventListener('htmx:responseError', (evt) => {
    const xhr = evt.detail.xhr;
    toast(`Request failed (${xhr.status} ${xhr.statusText || 'error'}).`, 'error');
  });

  document.addEventListener('htmx:sendError', () => {
    toast('The server could not be reached. Check your connection.', 'error');
  });

  // ------------------------------------------------------------- polling ---

  document.addEventListener('htmx:beforeRequest', (evt) => {
    const el = evt.detail.elt;
    if (document.visibilityState === 'hidden' && el && el.hasAttribute('data-poll')) {
      evt.preventDefault();
      el.setAttribute('data-poll-missed', '');
    }
  });

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible' || !window.htmx) {
      return;
    }
    document.querySelectorAll('[data-poll][data-poll-missed]').forEach((el) => {
      el.removeAttribute('data-poll-missed');
      window.htmx.trigger(el, 'visible');
    });
  });

  // ------------------------------------------------------------- confirm ---

  // Capture phase at document level runs before htmx's listeners on the
  // element, so a refusal stops plain and htmx submissions alike.
  function confirmOrStop(evt, el) {
    if (!window.confirm(el.getAttribute('data-confirm'))) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
      return false;
    }
    return true;
  }

  document.addEventListener('click', (evt) => {
    if (!(evt.target instanceof Element)) {
      return;
    }
    const el = evt.target.closest('[data-confirm]');
    if (!el || el.tagName === 'FORM') {
      return;
    }
    if (confirmOrStop(evt, el) && el.form && el.form.hasAttribute('data-confirm')) {
      // Already asked: do not ask again on the form's submit event.
      el.form.setAttribute('data-confirmed', '');
    }
  }, true);

  document.addEventListener('submit', (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) {
      return;
    }
    if (form.hasAttribute('data-confirmed')) {
      form.removeAttribute('data-confirmed');
      return;
    }
    confirmOrStop(evt, form);
  }, true);

  window.LTS = Object.freeze({ toast: toast, toggleTheme: toggleTheme });
})();
