"""Actor graphs: cluster descriptions and scores, node and edge tables, Gephi exports."""
