// A reporter's one-time rating page (issue 23): /dashboard/rate.html?token=… from the alert's
// notification. The token is the only credential; the page shows what is rated, never the timeline.
/* global document, fetch, location, URLSearchParams */
const root = document.getElementById('rate');
const token = new URLSearchParams(location.search).get('token') ?? '';

function show(...nodes) {
  root.replaceChildren(...nodes);
}

function text(tag, content, attrs = {}) {
  const el = document.createElement(tag);
  el.textContent = content;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

async function call(method, body) {
  const response = await fetch(method === 'GET' ? `/v1/ratings/link?token=${encodeURIComponent(token)}` : '/v1/ratings/link', {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await response.json();
  if (!response.ok) throw new Error(`${parsed.message} (${parsed.code})`);
  return parsed;
}

function form(link) {
  const comment = text('textarea', '', { maxlength: '1000', rows: '3', 'data-testid': 'rating-comment' });
  const label = text('label', 'Comment (optional)', { class: 'field' });
  label.append(comment);
  const rate = async (rating) => {
    try {
      await call('POST', { token, rating, ...(comment.value.trim() === '' ? {} : { comment: comment.value }) });
      show(text('p', 'Thank you: your rating is recorded.', { 'data-testid': 'rated' }));
    } catch (err) {
      show(text('p', err.message, { role: 'alert', class: 'error' }));
    }
  };
  const good = text('button', 'Good', { type: 'button', class: 'primary' });
  const bad = text('button', 'Bad', { type: 'button' });
  good.onclick = () => void rate('good');
  bad.onclick = () => void rate('bad');
  show(
    text('h1', 'How was this problem handled?'),
    text('p', `${link.alert.summary} · ${link.alert.place || 'city'} · ${link.stage}`),
    label,
    good,
    bad,
  );
}

call('GET').then(
  (link) => (link.rated ? show(text('p', 'This link has been used already.')) : form(link)),
  (err) => show(text('p', err.message, { role: 'alert', class: 'error' })),
);
