import { Field, ObjectType } from 'type-graphql';

/** What every mutation answers: a sentence for people, and when. Payloads extend it. */
@ObjectType()
export abstract class MutationOutcome {
  @Field(() => String, { description: 'What was done, for people.' })
  message: string;

  @Field(() => Date, { description: 'When the write completed.' })
  timestamp: Date;
}

@ObjectType('MessagePayload', { description: 'The answer of a write that returns no object.' })
export class MessagePayloadType extends MutationOutcome {}

/** The outcome of a mutation, to spread into its payload. */
export function message(text: string): MutationOutcome {
  return { message: text, timestamp: new Date() };
}
