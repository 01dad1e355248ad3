// 评警督察工作台: the little script the pages use. Served from this server only (CSP 'self').
(function () {
  "use strict";
  // Only one recording plays at a time.
  document.addEventListener("play", function (event) {
    var players = document.querySelectorAll("audio.player");
    for (var i = 0; i < players.length; i++) {
      if (players[i] !== event.target) { players[i].pause(); }
    }
  }, true);
  // Filter selects submit their form at once.
  var selects = document.querySelectorAll("form.filters select");
  for (var j = 0; j < selects.length; j++) {
    selects[j].addEventListener("change", function (event) { event.target.form.submit(); });
  }
})();
