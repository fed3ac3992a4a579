// The Worker under test: increments NS "count" and answers with the new value.
export default {
  async fetch(request, env) {
    const value = parseInt((await env.NS.get("count")) ?? "0") + 1;
    await env.NS.put("count", String(value));
    return new Response(String(value));
  },
};
