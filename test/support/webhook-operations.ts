/** The webhook endpoint operations, as an administrator's client sends them: the tests' and the bench's (no test runner here). */

export const CREATE_ENDPOINT = /* GraphQL */ `
  mutation Create($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) { message secret endpoint { id url description eventTypes enabled createdAt } }
  }
`;
export const UPDATE_ENDPOINT = /* GraphQL */ `
  mutation Update($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { secret endpoint { id url eventTypes enabled } }
  }
`;
export const ROTATE = 'mutation Rotate($id: ID!) { rotateWebhookSecret(id: $id) { message secret endpoint { id } } }';
export const DELETE_ENDPOINT = 'mutation Delete($id: ID!) { deleteWebhookEndpoint(id: $id) { message } }';
export const REDELIVER = 'mutation Redeliver($id: ID!) { redeliverWebhook(deliveryId: $id) { message delivery { id status attempts } } }';
export const ENDPOINTS = /* GraphQL */ `
  query Endpoints($first: Int, $after: String) {
    webhookEndpoints {
      id url enabled eventTypes
      deliveries(first: $first, after: $after) {
        edges { cursor node { id status attempts lastAttemptAt nextAttemptAt responseStatus event { id type subjectId } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;
