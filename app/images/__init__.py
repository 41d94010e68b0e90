"""Images on instructions: safe decoding, content-addressed storage, thumbnails, references in items, serving."""
