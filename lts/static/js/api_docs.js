// Start Swagger UI on /api/docs (a file, not inline: the CSP allows 'self' scripts only).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    // Same-origin calls carry the session cookie; unsafe methods need the CSRF token.
    requestInterceptor: function (request) {
      if (csrf && csrf.content) {
        request.headers["X-CSRFToken"] = csrf.content;
      }
      return request;
    },
  });
})();
