/**
 * What the HTTP suites share: requests to 127.0.0.1 (a raw `node:http`
 * request where fetch would hide what is tested: a chunked body without a
 * length, a client that stops reading), and an SSE reader that parses
 * events as they arrive.
 */
import { request } from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: { accepted?: number; error?: string };
}

/** POSTs `body` with the content type (and token, if given). */
export async function post(url: string, type: string, body: string | Buffer, token?: string): Promise<Reply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': type, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Reply['body'] };
}

/** POSTs `total` bytes in chunks without a Content-Length; the status the server answered (it may cut us off). */
export function postChunked(url: string, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e) => reject(e));
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const more = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/** A client of an event stream: the events and comments so far. */
export interface SseClient {
  readonly status: number;
  readonly events: SseEvent[];
  readonly comments: string[];
  close(): void;
}

export async function sseClient(url: string, token?: string): Promise<SseClient> {
  const ac = new AbortController();
  const res = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: ac.signal,
  });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  if (res.ok && res.body !== null) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let text = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          text += value;
          let end = text.indexOf('\n\n');
          while (end >= 0) {
            const frame = text.slice(0, end);
            text = text.slice(end + 2);
            const e: { id?: string; event?: string; data: string[] } = { data: [] };
            for (const line of frame.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else if (line.startsWith('id: ')) e.id = line.slice(4);
              else if (line.startsWith('event: ')) e.event = line.slice(7);
              else if (line.startsWith('data: ')) e.data.push(line.slice(6));
            }
            if (e.data.length > 0) events.push({ ...e, data: e.data.join('\n') });
            end = text.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
    })();
  } else await res.body?.cancel();
  return { status: res.status, events, comments, close: () => ac.abort() };
}
