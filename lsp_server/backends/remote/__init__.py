"""The remote backend: the forward passes on an inference server (llama.cpp, vLLM,
Ollama, any OpenAI-style completions endpoint), streamed over HTTP."""
