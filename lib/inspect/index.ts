/** Looking inside a model: interventions, activation patching, logit lens and attribution, routing statistics (lib/inspect). */
export {};
