// golive's bridge in an Express app: the same as ../embed-http, with the
// bridge's endpoints as middleware under /golive and the app's session
// cookie deciding who may go live.
import express from "express";
import { Bridge, webRoot } from "golive";

// The app's own sessions (in a real app: express-session and its store).
const users = new Map([[process.env.DEMO_SESSION ?? "demo-session", "alice"]]);
const cookie = (header = "", name: string) => new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(header)?.[1];

const bridge = new Bridge({
  noServer: true,
  staticDir: webRoot,
  allowPrivate: process.env.ALLOW_PRIVATE === "1", // a test ingest on 127.0.0.1
  authorize: ({ request, token }) => {
    const user = users.get(cookie(request.headers.cookie, "session") ?? token ?? "");
    return user ? { allow: true, user } : { allow: false, reason: "sign in to go live" };
  },
});
bridge.on("destination", (d) => console.log(`destination ${d.id}: ${d.state}`));

const app = express();
app.use("/golive", (req, res, next) => {
  bridge.handleRequest(req, res).then((done) => done || next(), next);
});
app.get("/", (_req, res) => {
  res.type("html").send('<script type="module" src="/golive/golive.js"></script><go-live bridge-url="/golive/ingest"></go-live>');
});

await bridge.ready();
const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${(server.address() as { port: number }).port}/`);
});
server.on("upgrade", (req, socket, head) => {
  if (req.url?.split("?")[0] === "/golive/ingest") bridge.handleUpgrade(req, socket, head);
  else socket.destroy();
});
process.once("SIGTERM", () => {
  void bridge.close().then(() => server.close());
});
