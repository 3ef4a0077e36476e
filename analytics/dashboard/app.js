// The operator's screen: one page, live through server-sent events, no reloads.
/* global document, localStorage */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { AlertBoard } from './alert-board.js';
import { accessToken, api, connectStream } from './api.js';
import { Chart } from './charts.js';
import { CityOverview } from './city-overview.js';
import { DepartmentScores } from './department-scores.js';
import { html } from './html.js';
import { IndicatorChart } from './indicator-chart.js';
import { PipelineHealth } from './pipeline-health.js';
import { time } from './format.js';
import { VenueChecks } from './venue-checks.js';

/** Points kept for the live throughput chart (a few minutes at the server's interval). */
const LIVE_POINTS = 180;
const LIVE_SERIES = [
  { label: 'readings/s', stroke: '#7cc4ff' },
  { label: 'verdicts/s', stroke: '#b99cff' },
];

function ThemeToggle() {
  const [theme, setTheme] = useState(() => localStorage.getItem('cityops.theme') ?? 'dark');
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('cityops.theme', theme);
  }, [theme]);
  return html`<button type="button" aria-pressed=${theme === 'light'} onClick=${() => setTheme(theme === 'dark' ? 'light' : 'dark')}>Light theme</button>`;
}

/** Asks for the role token (auth.tokens) when the server requires one; the same token acts on alerts. */
function TokenGate({ refused, onToken }) {
  const [value, setValue] = useState('');
  return html`<form class="panel token-gate" data-testid="token-gate" onSubmit=${(e) => {
    e.preventDefault();
    if (value.trim() !== '') onToken(value.trim());
  }}>
    <h2>Sign in</h2>
    ${refused ? html`<p role="alert" class="error">${refused}</p>` : null}
    <label class="field">Access token
      <input type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} data-testid="access-token" />
    </label>
    <button type="submit">Open the dashboard</button>
  </form>`;
}

function Panel({ id, title, children }) {
  return html`<section class="panel" id=${id} aria-labelledby=${`${id}-title`}>
    <h2 id=${`${id}-title`}>${title}</h2>
    ${children}
  </section>`;
}

function App() {
  const [info, setInfo] = useState();
  const [connected, setConnected] = useState(false);
  const [snapshot, setSnapshot] = useState();
  const [indicators, setIndicators] = useState([]);
  const [alerts, setAlerts] = useState(new Map());
  const [revisions, setRevisions] = useState({});
  // Ratings, reopenings and resolutions move the department indicators: they re-read on each.
  const [scored, setScored] = useState(0);
  const [place, setPlace] = useState('');
  const [drilled, setDrilled] = useState();
  const [live, setLive] = useState([[], [], []]);
  const [error, setError] = useState();
  const [announcement, setAnnouncement] = useState('');
  const [token, setToken] = useState(accessToken.get());
  const [refused, setRefused] = useState();
  const signIn = (t) => {
    accessToken.set(t);
    setRefused(undefined);
    setToken(t);
  };
  const signOut = (err) => {
    accessToken.set('');
    setRefused(`${err.message} (${err.code})`);
    setToken('');
  };

  // Whether a token is needed is known before anything else is asked for.
  useEffect(() => {
    api.info().then(setInfo, (err) => setError(err.message));
  }, []);
  const gated = info?.tokensRequired === true && token === '';

  const upsert = (summary) =>
    setAlerts((old) => {
      const next = new Map(old);
      next.set(summary.id, { ...old.get(summary.id), ...summary });
      return next;
    });

  useEffect(() => {
    if (info === undefined || gated) return undefined;
    // Answers to requests made with a token the page has since dropped are ignored: a late 401 from
    // the stream must not overwrite why the token was refused.
    let current = true;
    const failed = (err) => {
      if (!current) return;
      if (err.status === 401) signOut(err);
      else setError(err.message);
    };
    api.indicators().then((r) => current && setIndicators(r.indicators), failed);
    // An analyst's token reads aggregates only: the board stays empty rather than failing.
    api.alerts().then(
      (r) => current && setAlerts((old) => new Map([...r.alerts.map((a) => [a.id, a]), ...old])),
      (err) => (err.status === 403 ? undefined : failed(err)),
    );
    const close = connectStream({
      connected: setConnected,
      refused: (err) => current && signOut(err),
      hello: setInfo,
      snapshot(s) {
        setSnapshot(s);
        const ingest = s.pipeline.ingest.figures.readingsPerSecond;
        const verifier = s.pipeline.verifier.figures.verdictsPerSecond;
        setLive(([xs, a, b]) => [[...xs, s.at / 1000].slice(-LIVE_POINTS), [...a, ingest ?? null].slice(-LIVE_POINTS), [...b, verifier ?? null].slice(-LIVE_POINTS)]);
      },
      alert({ event, alert }) {
        upsert(alert);
        // Screen readers hear new and returning alerts; the board shows every event.
        if (event.type === 'opened' || event.type === 'reopened') setAnnouncement(`${event.type === 'opened' ? 'New' : 'Reopened'} ${alert.severity} alert: ${alert.summary}`);
        setRevisions((r) => ({ ...r, [alert.id]: (r[alert.id] ?? 0) + 1 }));
        if (['rated', 'flagged', 'reopened', 'resolved', 'accepted'].includes(event.type)) setScored((n) => n + 1);
      },
    });
    return () => {
      current = false;
      close();
    };
  }, [info === undefined, gated, token]);

  // Below the city the overview is read on demand, again with every snapshot.
  useEffect(() => {
    if (place === '') return setDrilled(undefined);
    const level = place.split('/').length === 1 ? 'subdistrict' : 'grid';
    let current = true;
    api.overview(level, place).then((o) => current && setDrilled(o), (err) => current && setDrilled({ error: err.message }));
    return () => {
      current = false;
    };
  }, [place, snapshot?.at]);

  const sorted = useMemo(() => [...alerts.values()].sort((a, b) => b.openedAt - a.openedAt), [alerts]);
  const overview = place === '' ? snapshot?.overview : drilled;

  return html`<div class="shell">
    <header class="top">
      <h1>cityops <span class="muted">operations</span></h1>
      <${ThemeToggle} />
      <p class="status" role="status" data-testid="connection">
        <span class=${`dot ${connected ? 'on' : 'off'}`} aria-hidden="true"></span>
        ${connected ? `Live · updated ${snapshot ? time(snapshot.at) : '…'}` : 'Reconnecting…'}
      </p>
    </header>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    ${gated ? html`<${TokenGate} refused=${refused} onToken=${signIn} />` : null}
    <p class="visually-hidden" aria-live="polite" data-testid="announcement">${announcement}</p>
    <main class="grid">
      <${Panel} id="overview" title="City overview">
        <${CityOverview} overview=${overview} place=${place} onNavigate=${setPlace} />
      <//>
      <${Panel} id="charts" title="Indicators">
        <${IndicatorChart} indicators=${indicators} place=${place} tick=${snapshot?.at} />
      <//>
      <${Panel} id="alerts" title="Alert board">
        <${AlertBoard} key=${String(info?.operatorsRequired ?? false)} alerts=${sorted} revisions=${revisions}
          operatorsRequired=${(info?.operatorsRequired ?? false) && !info?.tokensRequired} tokensRequired=${info?.tokensRequired ?? false} onUpdated=${upsert} />
      <//>
      <${Panel} id="departments" title="Department indicators">
        <${DepartmentScores} tick=${snapshot?.at} scored=${scored} />
      <//>
      <${Panel} id="venues" title="Venue checks">
        <${VenueChecks} venues=${snapshot?.venues} />
      <//>
      <${Panel} id="pipeline" title="Pipeline health">
        <${Chart} testid="live-chart" title="Throughput, live" series=${LIVE_SERIES} data=${live} height=${160} />
        <${PipelineHealth} pipeline=${snapshot?.pipeline} rules=${snapshot?.rules} />
      <//>
    </main>
  </div>`;
}

const root = document.getElementById('app');
// Preact renders into the container without clearing it: the loading line goes first.
root.textContent = '';
render(html`<${App} />`, root);
