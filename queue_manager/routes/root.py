from fastapi import APIRouter
from pydantic import BaseModel

router = APIRouter(tags=["root"])


class Message(BaseModel):
    message: str


@router.get("/", response_model=Message)
def root() -> Message:
    return Message(message="This is the queue manager.")
