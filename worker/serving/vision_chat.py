"""The model server's chat for vision-language models: decode the (already inlined) images, answer through the
vision engine, reply in OpenAI's shape. Images arrive as data: URLs; anything else is refused (never fetched)."""

from __future__ import annotations

import io
from typing import Any

import anyio
import orjson
from fastapi.responses import Response

from app.images.decode import ImageRefused
from app.images.refs import decode_data
from app.images.service import check_bytes
from app.serving.errors import OpenAIError
from app.serving.schemas import ChatCompletionRequest
from worker.serving import protocol


def _image(url: str, param: str) -> Any:
    from PIL import Image

    if url[:5].lower() != "data:":
        raise OpenAIError(400, f"{param}: the model server takes images as data: URLs only (it fetches nothing)",
                          param=param, code="invalid_image")
    try:
        data = decode_data(url)
        check_bytes(data)
    except ImageRefused as exc:
        raise OpenAIError(400, f"{param}: {exc.message}", param=param, code="invalid_image") from None
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _conversation(body: ChatCompletionRequest) -> tuple[list[dict[str, Any]], list[Any]]:
    messages, images = [], []
    for m, message in enumerate(body.messages):
        role = "system" if message.role == "developer" else message.role
        messages.append({"role": role, "content": message.parts()})
        if not isinstance(message.content, list):
            continue
        for p, part in enumerate(message.content):
            if part.type == "image_url":
                images.append(_image((part.image_url or {}).get("url", ""), f"messages[{m}].content[{p}]"))
    return messages, images


async def vision_chat(body: ChatCompletionRequest, engine: Any) -> Response:
    if body.stream:
        raise OpenAIError(400, "stream: streaming is not supported for vision-language models yet; send "
                               "stream: false", param="stream", code="invalid_value")
    if body.logprobs:
        raise OpenAIError(400, "logprobs: not supported for vision-language models yet", param="logprobs",
                          code="invalid_value")
    messages, images = _conversation(body)
    params = protocol._sampling(body, max_tokens=engine.settings.default_max_tokens, logprobs=None)
    result = await anyio.to_thread.run_sync(engine.answer, messages, images, params, body.answer_limit())
    prepared = protocol.Prepared(prompts=[result.prompt_ids], params=params)
    answer = protocol.chat_response(body.model, prepared, [result], engine.loaded.tokenizer)
    return Response(orjson.dumps(answer), media_type="application/json")
