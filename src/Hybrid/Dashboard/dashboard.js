// The live page of a sweep: polls the sweep's JSON every two seconds and redraws what changed.
// Strings from the store enter the page only as text (textContent), never as markup; charts are the
// report's own Plotly figures, whose labels the server has already made safe.
'use strict';
(() => {
  const root = document.getElementById('dashboard');
  const api = root.dataset.api;
  const interval = 2000;
  const plotConfig = { responsive: true, displaylogo: false };
  let shown = '';
  let lostSince = null;

  const element = (tag, text, className) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  };
  const time = date => date.toLocaleTimeString([], { hour12: false });

  function table(id, data, empty) {
    const holder = document.getElementById(id);
    if (data.rows.length === 0) {
      holder.replaceChildren(element('p', empty));
      return;
    }
    const t = element('table', undefined, id);
    const head = t.createTHead().insertRow();
    data.header.forEach(h => head.appendChild(element('th', h)));
    const body = t.createTBody();
    data.rows.forEach(r => {
      const row = body.insertRow();
      r.forEach(cell => row.appendChild(element('td', cell)));
    });
    holder.replaceChildren(t);
  }

  function counts(list) {
    document.getElementById('counts').replaceChildren(...list.map(c => {
      const badge = element('span', undefined, 'count');
      badge.dataset.status = c.status;
      badge.append(element('b', String(c.count)), c.status);
      return badge;
    }));
  }

  // Each chart keeps its element from one update to the next, so Plotly.react redraws only what changed.
  function charts(list) {
    const wanted = new Set(list.map(c => c.id));
    document.querySelectorAll('.chart').forEach(c => {
      if (!wanted.has(c.id)) {
        Plotly.purge(c);
        c.remove();
      }
    });
    list.forEach(c => {
      let holder = document.getElementById(c.id);
      if (!holder) {
        holder = element('div', undefined, 'chart');
        holder.id = c.id;
        document.getElementById('charts-' + c.section).appendChild(holder);
      }
      Plotly.react(holder, c.figure.data, c.figure.layout, plotConfig);
    });
    document.getElementById('no-running').hidden = wanted.has('chart-running');
  }

  // Workers store a trial's epochs with its checkpoints (every 5 s of a trial by default), so a
  // trial can run for a while before it has a curve to show.
  function noRunning(counts) {
    const running = counts.find(c => c.status === 'running').count;
    document.getElementById('no-running').textContent = running === 0
      ? 'No trial is running.'
      : running + (running === 1 ? ' trial is' : ' trials are') +
        ' running; none has stored an epoch yet (workers store epochs with each checkpoint).';
  }

  function render(snapshot) {
    document.getElementById('summary').textContent = snapshot.summary;
    const notes = document.getElementById('notes');
    notes.textContent = snapshot.notes;
    notes.hidden = snapshot.notes === '';
    counts(snapshot.counts);
    noRunning(snapshot.counts);
    table('leaderboard', snapshot.leaderboard, 'No trial has completed yet.');
    table('failures', snapshot.failures, 'None.');
    charts(snapshot.charts);
  }

  function connected() {
    lostSince = null;
    const banner = document.getElementById('connection');
    banner.className = 'connection';
    banner.textContent = 'Live: the page follows the run store, every ' + interval / 1000 + ' s.';
    document.getElementById('updated').textContent = 'updated ' + time(new Date());
  }

  function lost(reason) {
    lostSince = lostSince || new Date();
    const banner = document.getElementById('connection');
    banner.className = 'connection lost';
    banner.textContent = 'The run store cannot be read since ' + time(lostSince) + ' (still trying every ' +
      interval / 1000 + ' s; the figures below are from before): ' + reason;
  }

  async function poll() {
    try {
      const response = await fetch(api, { cache: 'no-store' });
      const text = await response.text();
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = { error: 'the dashboard answered HTTP ' + response.status + ' with something other than JSON' };
      }
      if (response.ok) {
        connected();
        if (text !== shown) {
          render(body);
          shown = text;
        }
      } else {
        lost(body.error || ('HTTP ' + response.status));
      }
    } catch (e) {
      lost('the dashboard server does not answer (' + e.message + ')');
    }
    setTimeout(poll, interval);
  }

  poll();
})();
