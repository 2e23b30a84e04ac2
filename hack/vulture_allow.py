"""Names vulture (dead code, `make lint`) may consider unused but that are used: parameters kept
because they override a library's signature, and parametrize arguments that only name a case."""

# extender/kube.py: kubernetes.watch.Watch.unmarshal_event(data, return_type)
return_type
# tests/unit/test_extender_cache.py: urllib3's HTTPResponse.stream(amt, decode_content)
amt
decode_content
# tests: the first parametrize argument names the case (pytest ids)
case
