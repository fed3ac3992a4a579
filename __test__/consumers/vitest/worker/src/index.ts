import { Hono } from "hono";
import { label } from "./label";

type Env = { NOTES: KVNamespace; GREETING: string };

const app = new Hono<{ Bindings: Env }>();
let requests = 0; // module state: one count per Miniflare instance

app.use("*", async (_c, next) => {
  requests += 1;
  await next();
});
app.get("/requests", (c) => c.text(String(requests)));
app.put("/notes/:id", async (c) => {
  await c.env.NOTES.put(c.req.param("id"), await c.req.text());
  return c.body(null, 201);
});
app.get("/notes/:id", async (c) => {
  const note: string | null = await c.env.NOTES.get(c.req.param("id"));
  return note === null ? c.notFound() : c.text(`${c.env.GREETING}: ${label(note)}`);
});

export default app;
