// The built-in demo upstream (`"upstream": {"builtin": "echo"}`): answers with what it received, so a newcomer
// can call the gateway right after `npm start` and see exactly what an upstream would get.

export async function echoUpstream(request: Request): Promise<Response> {
  const url = new URL(request.url);
  let bodyBytes = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bodyBytes += value.byteLength;
    }
  }
  return Response.json({
    upstream: 'echo',
    method: request.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: Object.fromEntries(request.headers),
    body_bytes: bodyBytes,
  });
}
