"""``make demo`` (``python -m demo``): the whole journey on the running local network.

1. train an honest model on scikit-learn's digits with the Recorder and submit it;
2. train a backdoored one (poisoned intervals) and submit it;
3. fine-tune the honest model into a child and submit it with its parent;
4. wait for the verifiers' verdicts and print them in one table;
5. print the family tree, and run ``trainproof check`` on a tampered copy of the honest
   model: the altered layer is named and restored from the verified snapshot.

Modules: ``run`` (the steps, in order), ``training`` (the three runs), ``verdicts`` (waiting
and the table), ``tamper`` (the weights file for step 5).
"""
