"""The built-in corpus the tiny model's tokenizer is trained on: the project's own words, nothing downloaded."""

CORPUS = """\
Tuneloop closes the loop from human feedback to instruction-tuned models.
Annotators read an instruction and the candidate responses, rank them, rate them and correct them.
Reviewers approve the annotations; approved instructions become a versioned export snapshot.
An admin picks a snapshot and a base model, presses Start, and watches a LoRA run train on a worker.
The run is created, validated, queued, running, finalizing, and then it succeeds, fails or is cancelled.
A failure names its cause: the data, the configuration, out of memory, or a lost worker.
Cancel asks the trainer to stop at the end of the current step and to save a checkpoint.
A failed or cancelled run with a checkpoint can be resumed; any run can be cloned with the same settings.
After training, the adapter, the merged weights, the configuration and the training log are saved.
The evaluation compares the loss before and after training and shows the base and tuned answers side by side.
The tuned model then writes the next round of candidates for the annotators, and the loop starts again.

Below is an instruction that describes a task. Write a response that appropriately completes the request.
### Instruction:
Summarize the paragraph in one sentence.
### Input:
The export job writes the approved instructions to a file, one example per line.
### Response:
The export job saves approved instructions as one example per line.

Question: What is the capital of France? Answer: Paris.
Question: How many days are in a week? Answer: Seven days, from Monday to Sunday.
Question: What is two plus three? Answer: 2 + 3 = 5.
Translate "good morning" into Spanish: buenos dias. Into French: bonjour. Into German: guten Morgen.
Write a short poem about the sea: The waves come in, the waves go out; the gulls are calling all about.
List three colours: red, green and blue. List three fruits: apple, banana and cherry.
Classify the sentiment of "I love this product": positive. Of "This is terrible": negative.
Give a title to the story: A girl finds a map in the attic and sails to an island. Title: The Attic Map.
Explain why the sky is blue: sunlight is scattered by the air, and blue light is scattered the most.
Rewrite the sentence in the past tense: She walks to school. She walked to school.
Extract the numbers: The train leaves at 9:45 from platform 12 and costs $30. Numbers: 9, 45, 12, 30.
Sort the words alphabetically: pear, apple, mango. Answer: apple, mango, pear.
def add(a, b):
    return a + b
{"id": 1, "instruction": "Say hello", "output": "Hello!"}
The user asked a question and the assistant answered it helpfully, honestly and briefly.
system: You are a helpful assistant. user: Hi! assistant: Hello, how can I help you today?
0 1 2 3 4 5 6 7 8 9 10 100 1000 2026 3.14 50% #1 @home a-b c_d e/f (g) [h] <i> 'j' "k" ; : ! ? .
"""
