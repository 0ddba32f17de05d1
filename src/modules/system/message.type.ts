import { Field, ObjectType } from 'type-graphql';

/** What every mutation answers: a sentence for people, and when. Payloads extend it. */
@ObjectType()
export abstract class MutationOutcome {
  @Field(() => String)
  message: string;

  @Field(() => Date)
  timestamp: Date;
}

@ObjectType('MessagePayload')
export class MessagePayloadType extends MutationOutcome {}

/** The outcome of a mutation, to spread into its payload. */
export function message(text: string): MutationOutcome {
  return { message: text, timestamp: new Date() };
}
