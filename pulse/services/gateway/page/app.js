// Pulse live page: pick a match, get a node from the registry (through this node), watch the
// scoreboard, emoji units and game updates on the socket, send emoji through the socket.
// The node's welcome carries the match as it is (score, latest top emojis); changes follow.
// Plain browser JavaScript: no build step, nothing loaded from elsewhere.
"use strict";

const EMOJIS = ["🔥", "👏", "😂", "😮", "😢", "❤️", "🎉", "🏏", "⚽", "💯"];
const $ = (id) => document.getElementById(id);
// `watching` counts the calls of watch(): only the newest may open a socket.
const state = {
  socket: null, matchId: null, sequence: -1, sent: 0, units: new Map(), retry: null, watching: 0,
};
// The top emojis of the newest window: the welcome's, then kept up by every change of a window.
const TOP_SHOWN = 5;
const topEmojis = { window: null, counts: new Map() };
const clientId = sessionStorage.getItem("pulse-client") ||
  `web-${Math.random().toString(36).slice(2, 12)}`;
sessionStorage.setItem("pulse-client", clientId);

function status(text) { $("status").textContent = text; }

async function getJson(path, options = {}) {
  const answer = await fetch(path, options);
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.message || body.error || answer.statusText);
  return body;
}

const MATCHES_EVERY_MS = 10000;  // matches start while the page is open

function matchLabel(m) {
  const teams = m.home_team && m.away_team ? `${m.home_team} – ${m.away_team}` : m.match_id;
  return m.status ? `${teams} (${m.status})` : teams;
}

async function loadMatches() {
  const { matches } = await getJson("/api/matches");
  const select = $("match");
  const chosen = select.value;
  select.replaceChildren(...matches.map((m) => new Option(matchLabel(m), m.match_id)));
  if (matches.some((m) => m.match_id === chosen)) select.value = chosen;
  if (state.matchId) return;
  if (matches.length) watch(select.value);  // the newest match, until the viewer picks one
  else status("No live match yet: type a match id.");
}

async function keepMatchesListed() {
  try { await loadMatches(); } catch (error) { status(`Cannot list matches: ${error.message}`); }
  setTimeout(keepMatchesListed, MATCHES_EVERY_MS);
}

function noScoreYet() {
  for (const id of ["home-team", "away-team", "home-score", "away-score"]) $(id).textContent = "";
  $("score-meta").textContent = "No score yet: the match has not been scored.";
  $("scoreboard").classList.add("unscored");
}

function clearScore() {
  for (const id of ["home-team", "away-team", "home-score", "away-score", "score-meta"]) {
    $(id).textContent = "";
  }
  $("scoreboard").classList.remove("unscored");
}

function showScore(board) {
  const sequence = Number(board.sequence);
  if (sequence <= state.sequence) return;  // an older state, or one already shown
  state.sequence = sequence;
  $("scoreboard").classList.remove("unscored");
  $("home-team").textContent = board.home_team; $("away-team").textContent = board.away_team;
  $("home-score").textContent = board.home_score; $("away-score").textContent = board.away_score;
  $("score-meta").textContent = `${board.status || ""} · sequence ${sequence}`;
}

function showEmoji(message) {
  const key = `${message.emoji}|${message.window_start}`;
  const before = state.units.get(key) || 0;
  state.units.set(key, message.units);
  const rows = $("units").tBodies[0];
  const row = document.createElement("tr");
  row.dataset.emoji = message.emoji;
  row.className = "unit-row";
  row.innerHTML = "<td></td><td></td><td></td>";
  row.cells[0].textContent = message.emoji;
  row.cells[0].className = "emoji";
  row.cells[1].textContent = message.count;
  row.cells[2].textContent = message.units;
  rows.prepend(row);
  while (rows.rows.length > 12) rows.deleteRow(-1);
  for (let i = 0; i < Math.min(message.units - before, 20); i += 1) floatUnit(message.emoji);
  countTop(message);
}

function seedTop(emojis) {
  topEmojis.window = emojis ? emojis.window_start : null;
  topEmojis.counts = new Map((emojis ? emojis.top : []).map((e) => [e.emoji, e]));
  showTop();
}

function countTop(message) {
  // Fixed-width ISO-8601 times in UTC: their text order is their time order.
  if (topEmojis.window !== null && message.window_start < topEmojis.window) return;
  if (message.window_start !== topEmojis.window) {
    topEmojis.window = message.window_start;
    topEmojis.counts = new Map();
  }
  const known = topEmojis.counts.get(message.emoji);
  if (!known || message.count > known.count) topEmojis.counts.set(message.emoji, message);
  showTop();
}

function showTop() {
  const rows = $("top").tBodies[0];
  rows.replaceChildren();
  $("top-window").textContent = topEmojis.window ? `window from ${topEmojis.window}` : "none yet";
  const ranked = [...topEmojis.counts.values()].sort((a, b) => b.count - a.count);
  ranked.length = Math.min(ranked.length, TOP_SHOWN);
  ranked.forEach((entry, index) => {
    const row = rows.insertRow();
    row.className = "top-row";
    row.dataset.emoji = entry.emoji;
    for (const value of [index + 1, entry.emoji, entry.count, entry.units]) {
      row.insertCell().textContent = value;
    }
    row.cells[1].className = "emoji";
  });
}

function welcomed(message) {
  status(`Watching ${state.matchId} on node ${message.node_id} (cluster ${message.cluster}).`);
  if (message.scoreboard) showScore(message.scoreboard); else if (state.sequence < 0) noScoreYet();
  seedTop(message.emojis);
}

function floatUnit(emoji) {
  const unit = document.createElement("span");
  unit.className = "unit";
  unit.textContent = emoji;
  unit.style.left = `${5 + Math.random() * 85}%`;
  unit.addEventListener("animationend", () => unit.remove());
  $("stage").append(unit);
}

function showGame(message) {
  const item = document.createElement("li");
  item.className = "game-update";
  item.textContent = `${message.game_id}: ${message.title}`;
  $("game-updates").prepend(item);
}

const handlers = {
  welcome: welcomed,
  score: showScore,
  emoji: showEmoji,
  game: showGame,
  sent: () => { state.sent += 1; $("sent-count").textContent = state.sent; },
  error: (m) => status(`Refused: ${m.message}`),
};

async function watch(matchId) {
  // One match, one socket. A pick in the list and a click on Watch call this twice at once: the
  // newer call wins, the older one opens nothing once its node answers. A socket left behind
  // gets no say: its last messages, already on their way, are dropped, not drawn.
  const call = ++state.watching;
  if (state.socket) {
    Object.assign(state.socket, { onclose: null, onmessage: null });
    state.socket.close();
    state.socket = null;
  }
  clearTimeout(state.retry);
  state.matchId = matchId; state.sequence = -1;
  // What the page shows belongs to one match: another match's score, units, top and updates go.
  clearScore();
  state.units = new Map();
  $("units").tBodies[0].replaceChildren();
  $("game-updates").replaceChildren();
  seedTop(null);
  status(`Finding a node for ${matchId}…`);
  try {
    const params = new URLSearchParams({ client_id: clientId, match_id: matchId });
    const subscriber = $("subscriber").value.trim();
    if (subscriber) params.set("subscriber_id", subscriber);
    // A POST: it registers the viewer; the answer's token lets it in at that node only, for a
    // minute, so every (re)connection asks again.
    const node = await getJson(`/api/assignment?${params}`, { method: "POST" });
    if (call !== state.watching) return;  // another watch() began meanwhile
    params.set("token", node.token);
    const socket = new WebSocket(`${node.url}?${params}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      (handlers[message.type] || (() => {}))(message);
    };
    socket.onclose = () => {  // the node went away: ask for a node again
      status("Connection lost; reconnecting…");
      state.retry = setTimeout(() => watch(matchId), 1000);
    };
    state.socket = socket;
  } catch (error) {
    if (call !== state.watching) return;
    status(`No node yet (${error.message}); retrying…`);
    state.retry = setTimeout(() => watch(matchId), 2000);
  }
}

function sendEmoji(emoji) {
  if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
    status("Pick a match first.");
    return;
  }
  state.socket.send(JSON.stringify({ type: "emoji", emoji }));
}

for (const emoji of EMOJIS) {
  const button = document.createElement("button");
  button.type = "button"; button.textContent = emoji; button.dataset.emoji = emoji;
  button.addEventListener("click", () => sendEmoji(emoji));
  $("emoji-buttons").append(button);
}
$("pick").addEventListener("submit", (event) => {
  event.preventDefault();
  const matchId = $("match-id").value.trim() || $("match").value;
  if (matchId) watch(matchId); else status("Pick or type a match.");
});
$("match").addEventListener("change", () => { $("match-id").value = ""; watch($("match").value); });
keepMatchesListed();
