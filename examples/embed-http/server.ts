// golive's bridge on an app's own http.Server: the WebSocket at
// /golive/ingest, golive.js, /healthz and /metrics under /golive/, the app's
// routes beside them. Who may stream where is the app's call (authorize).
import { createServer } from "node:http";
import { Bridge, webRoot } from "golive";

const INGEST = process.env.ALLOWED_INGEST ?? "rtmp://a.rtmp.youtube.com/live2";
// The app's own sessions (in a real app: its session store).
const users = new Map([[process.env.DEMO_SESSION ?? "demo-session", "alice"]]);

const bridge = new Bridge({
  noServer: true,
  staticDir: webRoot,
  allowPrivate: process.env.ALLOW_PRIVATE === "1", // a test ingest on 127.0.0.1
  authorize: ({ token, destinations }) => {
    const user = users.get(token ?? "");
    if (!user) return { allow: false, reason: "sign in to go live" };
    const allowed = destinations.filter((d) => d.url.startsWith(INGEST));
    return { allow: allowed.map((d) => d.id), user, maxSessions: 1 };
  },
});
bridge.on("session", (s) => console.log(`session ${s.session} by ${s.user}`));
bridge.on("destination", (d) => console.log(`destination ${d.id}: ${d.state}`));
bridge.on("sessionEnded", (s) => console.log(`session ${s.session} ${s.outcome}`));

const server = createServer((req, res) => {
  void bridge.handleRequest(req, res, { prefix: "/golive" }).then((done) => {
    if (done) return;
    res.writeHead(200, { "content-type": "text/plain" }).end("the app's own page\n");
  });
});
server.on("upgrade", (req, socket, head) => {
  if (req.url?.split("?")[0] === "/golive/ingest") bridge.handleUpgrade(req, socket, head);
  else socket.destroy();
});
await bridge.ready();
server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as { port: number }).port}/`);
});
process.once("SIGTERM", () => {
  void bridge.close().then(() => server.close());
});
