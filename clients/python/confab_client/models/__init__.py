"""Contains all the data models used in inputs/outputs"""

from .ack_frame import AckFrame
from .client_frame_conversation_ref import ClientFrameConversationRef
from .client_frame_conversation_ref_type import ClientFrameConversationRefType
from .client_frame_empty import ClientFrameEmpty
from .client_frame_empty_type import ClientFrameEmptyType
from .client_frame_join_frame import ClientFrameJoinFrame
from .client_frame_join_frame_type import ClientFrameJoinFrameType
from .client_frame_read_frame import ClientFrameReadFrame
from .client_frame_read_frame_type import ClientFrameReadFrameType
from .client_frame_reauth_frame import ClientFrameReauthFrame
from .client_frame_reauth_frame_type import ClientFrameReauthFrameType
from .client_frame_send_frame import ClientFrameSendFrame
from .client_frame_send_frame_type import ClientFrameSendFrameType
from .conversation import Conversation
from .conversation_kind import ConversationKind
from .conversation_page import ConversationPage
from .conversation_peer import ConversationPeer
from .conversation_ref import ConversationRef
from .edit_message import EditMessage
from .empty import Empty
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .error_frame import ErrorFrame
from .group import Group
from .group_page import GroupPage
from .group_patch import GroupPatch
from .group_role import GroupRole
from .history import History
from .join_frame import JoinFrame
from .joined_frame import JoinedFrame
from .last_message_view import LastMessageView
from .login_request import LoginRequest
from .member import Member
from .member_page import MemberPage
from .member_user import MemberUser
from .membership_frame import MembershipFrame
from .membership_status import MembershipStatus
from .message import Message
from .message_deleted_frame import MessageDeletedFrame
from .message_frame import MessageFrame
from .open_dm import OpenDm
from .ownership_transfer import OwnershipTransfer
from .password_change import PasswordChange
from .presence import Presence
from .presence_frame import PresenceFrame
from .presence_status import PresenceStatus
from .profile_patch import ProfilePatch
from .read_event_frame import ReadEventFrame
from .read_frame import ReadFrame
from .read_marker import ReadMarker
from .reauth_frame import ReauthFrame
from .refresh_request import RefreshRequest
from .register_request import RegisterRequest
from .role import Role
from .role_change import RoleChange
from .send_frame import SendFrame
from .send_message import SendMessage
from .server_frame_ack_frame import ServerFrameAckFrame
from .server_frame_ack_frame_type import ServerFrameAckFrameType
from .server_frame_empty import ServerFrameEmpty
from .server_frame_empty_type import ServerFrameEmptyType
from .server_frame_error_frame import ServerFrameErrorFrame
from .server_frame_error_frame_type import ServerFrameErrorFrameType
from .server_frame_joined_frame import ServerFrameJoinedFrame
from .server_frame_joined_frame_type import ServerFrameJoinedFrameType
from .server_frame_membership_frame import ServerFrameMembershipFrame
from .server_frame_membership_frame_type import ServerFrameMembershipFrameType
from .server_frame_message_deleted_frame import ServerFrameMessageDeletedFrame
from .server_frame_message_deleted_frame_type import ServerFrameMessageDeletedFrameType
from .server_frame_message_frame import ServerFrameMessageFrame
from .server_frame_message_frame_type import ServerFrameMessageFrameType
from .server_frame_presence_frame import ServerFramePresenceFrame
from .server_frame_presence_frame_type import ServerFramePresenceFrameType
from .server_frame_read_event_frame import ServerFrameReadEventFrame
from .server_frame_read_event_frame_type import ServerFrameReadEventFrameType
from .server_frame_typing_frame import ServerFrameTypingFrame
from .server_frame_typing_frame_type import ServerFrameTypingFrameType
from .status import Status
from .token_pair import TokenPair
from .typing_frame import TypingFrame
from .user import User
from .user_page import UserPage
from .user_ref import UserRef
from .user_summary import UserSummary
from .visibility import Visibility
from .ws_ticket import WsTicket

__all__ = (
    "AckFrame",
    "ClientFrameConversationRef",
    "ClientFrameConversationRefType",
    "ClientFrameEmpty",
    "ClientFrameEmptyType",
    "ClientFrameJoinFrame",
    "ClientFrameJoinFrameType",
    "ClientFrameReadFrame",
    "ClientFrameReadFrameType",
    "ClientFrameReauthFrame",
    "ClientFrameReauthFrameType",
    "ClientFrameSendFrame",
    "ClientFrameSendFrameType",
    "Conversation",
    "ConversationKind",
    "ConversationPage",
    "ConversationPeer",
    "ConversationRef",
    "EditMessage",
    "Empty",
    "ErrorBody",
    "ErrorDetail",
    "ErrorFrame",
    "Group",
    "GroupPage",
    "GroupPatch",
    "GroupRole",
    "History",
    "JoinFrame",
    "JoinedFrame",
    "LastMessageView",
    "LoginRequest",
    "Member",
    "MemberPage",
    "MemberUser",
    "MembershipFrame",
    "MembershipStatus",
    "Message",
    "MessageDeletedFrame",
    "MessageFrame",
    "OpenDm",
    "OwnershipTransfer",
    "PasswordChange",
    "Presence",
    "PresenceFrame",
    "PresenceStatus",
    "ProfilePatch",
    "ReadEventFrame",
    "ReadFrame",
    "ReadMarker",
    "ReauthFrame",
    "RefreshRequest",
    "RegisterRequest",
    "Role",
    "RoleChange",
    "SendFrame",
    "SendMessage",
    "ServerFrameAckFrame",
    "ServerFrameAckFrameType",
    "ServerFrameEmpty",
    "ServerFrameEmptyType",
    "ServerFrameErrorFrame",
    "ServerFrameErrorFrameType",
    "ServerFrameJoinedFrame",
    "ServerFrameJoinedFrameType",
    "ServerFrameMembershipFrame",
    "ServerFrameMembershipFrameType",
    "ServerFrameMessageDeletedFrame",
    "ServerFrameMessageDeletedFrameType",
    "ServerFrameMessageFrame",
    "ServerFrameMessageFrameType",
    "ServerFramePresenceFrame",
    "ServerFramePresenceFrameType",
    "ServerFrameReadEventFrame",
    "ServerFrameReadEventFrameType",
    "ServerFrameTypingFrame",
    "ServerFrameTypingFrameType",
    "Status",
    "TokenPair",
    "TypingFrame",
    "User",
    "UserPage",
    "UserRef",
    "UserSummary",
    "Visibility",
    "WsTicket",
)
