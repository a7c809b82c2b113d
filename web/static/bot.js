/* web/static/bot.js: starts a bot's public page (/b/ID, bot.html): takes ID from the path and
 * loads /widget.js with data-bot=ID and data-page=1, which draws the chat full-page with the bot's
 * name, greeting, colour, language and logo. Tests: tests/web/bots.mjs, tests/web/test_bots.c. */
'use strict';
(function () {
  const parts = location.pathname.split('/');
  const id = decodeURIComponent(parts[2] || '');
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(id)) return;
  const s = document.createElement('script');
  s.src = '/widget.js';
  s.dataset.bot = id;
  s.dataset.page = '1';
  document.body.append(s);
})();
