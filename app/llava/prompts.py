"""LLaVA's prompts for generating visual instruction data from an image's captions and boxes.

The system messages, the caption-and-box context layout and the few-shot examples are LLaVA's own (Liu et al.
2023, github.com/haotian-liu/LLaVA, playground/data/prompts, Apache-2.0); the questions that introduce a detailed
description are the paper's list (Table 9). A text-only teacher sees the captions and boxes, never the pixels.
"""

from __future__ import annotations

import hashlib
from typing import Any

KINDS = ("conversation", "detail", "complex")

SYSTEM = {
    "conversation": (
        "You are an AI visual assistant, and you are seeing a single image. What you see are provided with five "
        "sentences, describing the same image you are looking at. Answer all questions as you are seeing the "
        "image.\n\nDesign a conversation between you and a person asking about this photo. The answers should be in "
        "a tone that a visual AI assistant is seeing the image and answering the question.\nAsk diverse questions "
        "and give corresponding answers.\n\nInclude questions asking about the visual content of the image, "
        "including the object types, counting the objects, object actions, object locations, relative positions "
        "between objects, etc. Only include questions that have definite answers:\n(1) one can see the content in "
        "the image that the question asks about and can answer confidently;\n(2) one can determine confidently "
        "from the image that it is not in the image.\nDo not ask any question that cannot be answered "
        "confidently.\n\nAlso include complex questions that are relevant to the content in the image, for "
        "example, asking about background knowledge of the objects in the image, asking to discuss about events "
        "happening in the image, etc. Again, do not ask about uncertain details.\nProvide detailed answers when "
        "answering complex questions. For example, give detailed examples or reasoning steps to make the content "
        "more convincing and well-organized.  You can include multiple paragraphs if necessary."),
    "detail": (
        "You are an AI visual assistant that can analyze a single image. You receive five sentences, each "
        "describing the same image you are observing. In addition, specific object locations within the image are "
        "given, along with detailed coordinates. These coordinates are in the form of bounding boxes, represented "
        "as (x1, y1, x2, y2) with floating numbers ranging from 0 to 1. These values correspond to the top left x, "
        "top left y, bottom right x, and bottom right y.\n\nUsing the provided caption and bounding box "
        "information, describe the scene in a detailed manner.\n\nInstead of directly mentioning the bounding box "
        "coordinates, utilize this data to explain the scene using natural language. Include details like object "
        "counts, position of the objects, relative position between the objects.\n\nWhen using the information "
        "from the caption and coordinates, directly explain the scene, and do not mention that the information "
        "source is the caption or the bounding box.  Always answer as if you are directly looking at the image."),
    "complex": (
        "You are an AI visual assistant that can analyze a single image. You receive five sentences, each "
        "describing the same image you are observing. In addition, specific object locations within the image are "
        "given, along with detailed coordinates. These coordinates are in the form of bounding boxes, represented "
        "as (x1, y1, x2, y2) with floating numbers ranging from 0 to 1. These values correspond to the top left x, "
        "top left y, bottom right x, and bottom right y.\n\nThe task is to use the provided caption and bounding "
        "box information, create a plausible question about the image, and provide the answer in detail.\n\n"
        "Create complex questions beyond describing the scene.\nTo answer such questions, one should require first "
        "understanding the visual content, then based on the background knowledge or reasoning, either explain why "
        "the things are happening that way, or provide guides and help to user's request.  Make the question "
        "challenging by not including the visual content details in the question so that the user needs to reason "
        "about that first.\n\nInstead of directly mentioning the bounding box coordinates, utilize this data to "
        "explain the scene using natural language. Include details like object counts, position of the objects, "
        "relative position between the objects.  \n\nWhen using the information from the caption and coordinates, "
        "directly explain the scene, and do not mention that the information source is the caption or the "
        "bounding box.  Always answer as if you are directly looking at the image."),
}

# One worked example per kind that answers in "Question / === / Answer" form (LLaVA's 000 examples).
FEW_SHOT = {
    "conversation": (
        "There is a movie theater that displays the show times above the doors.\nA red fire hydrant is deep in the "
        "snow.\nThe fire hydrant is in the snow near a recently plowed sidewalk.\nThis city has had a very hard "
        "winter with snow.\nA hotel for dogs in the snow in winter.",
        "Question:\nWhat color is the fire hydrant in the image?\n===\nAnswer:\nThe fire hydrant in the image is "
        "red.\n===\nQuestion:\nIs the fire hydrant fully covered by snow or partially visible?\n===\nAnswer:\nThe "
        "fire hydrant is partially visible, with a significant portion of it covered by the deep snow.\n===\n"
        "Question:\nWhat is the condition of the sidewalk near the fire hydrant?\n===\nAnswer:\nThe sidewalk near "
        "the fire hydrant has been recently plowed, so it is relatively clear of snow compared to the surrounding "
        "area."),
    "complex": (
        "A man wearing multiple neck ties making a goofy face.\nA man in a white shirt wearing very many ties.\na "
        "man with ties on poses for a picture\nA man wearing multiple ties on his neck.\nA young man smiles while "
        "wearing several ties.\n\ntie: [0.574, 0.298, 0.752, 0.704]\ntie: [0.464, 0.339, 0.639, 0.789]\n"
        "person: [0.019, 0.065, 0.962, 0.988]",
        "Question:\nWhat is unusual about this photo?\n===\nAnswer:\nIn the photo, the man is wearing a total of ten "
        "ties around his neck. This is considered unusual because it is not common for someone to wear multiple "
        "ties at once. In a typical setting, a person would wear only one tie. The man's goofy facial expression "
        "also adds to the unconventional and humorous nature of the image."),
}

DETAIL_QUESTIONS = (
    "Describe the following image in detail", "Provide a detailed description of the given image",
    "Give an elaborate explanation of the image you see", "Share a comprehensive rundown of the presented image",
    "Offer a thorough analysis of the image", "Explain the various aspects of the image before you",
    "Clarify the contents of the displayed image with great detail",
    "Characterize the image using a well-detailed description",
    "Break down the elements of the image in a detailed manner", "Walk through the important details of the image",
    "Portray the image with a rich, descriptive narrative", "Narrate the contents of the image with precision",
    "Analyze the image in a comprehensive and detailed manner",
    "Illustrate the image through a descriptive explanation", "Examine the image closely and share its details",
    "Write an exhaustive depiction of the given image",
)


def context(images: list[dict[str, Any]]) -> str:
    """What the teacher sees of the images: captions one a line, a blank line, then `label: [x1, y1, x2, y2]`."""
    captions = [c for image in images for c in image.get("captions") or []]
    boxes = [f"{b['label']}: [{', '.join(f'{v:.3f}' for v in b['bbox'])}]"
             for image in images for b in image.get("boxes") or []]
    return "\n".join(captions) + ("\n\n" + "\n".join(boxes) if boxes else "")


def messages(kind: str, images: list[dict[str, Any]], *, few_shot: bool = True) -> list[dict[str, str]]:
    out = [{"role": "system", "content": SYSTEM[kind]}]
    if few_shot and kind in FEW_SHOT:
        caps, conv = FEW_SHOT[kind]
        out += [{"role": "user", "content": caps}, {"role": "assistant", "content": conv}]
    return [*out, {"role": "user", "content": context(images)}]


def detail_question(key: str) -> str:
    """One of the paper's description questions, picked by a stable hash so a re-run asks the same."""
    index = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % len(DETAIL_QUESTIONS)
    return DETAIL_QUESTIONS[index]
